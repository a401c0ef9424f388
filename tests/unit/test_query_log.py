"""Query-log entries: the SOQL's shape without its literals, the resource without ids, and
who made the call (issue #16, part 1)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovgw.adapters.query_log import AuditQueryLog, EmfQueryLog, QueryLogs
from sovgw.domain.audit import AuditRecord, Outcome, Stage
from sovgw.domain.canaries import NO_CANARIES
from sovgw.domain.query_log import (
    SalesforceCall,
    calls_made_as,
    current_context,
    describe_call,
    normalise_soql,
    rows_in,
)

BASE = "https://org.my.salesforce.com/services/data/v62.0"


def _described(url: str, method: str = "GET", **measured: object) -> SalesforceCall:
    """describe_call with ordinary measurements (each test sets what it checks)."""
    values: dict[str, object] = {
        "status": 200,
        "body_bytes": 1,
        "rows": None,
        "latency_ms": 0.5,
        "org_id": None,
        "lane": "ROUTINE",
        "grant_id": None,
    }
    values.update(measured)
    return describe_call(method=method, url=url, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("soql", "shape"),
    [
        (
            "SELECT Id, Subject FROM Case WHERE Subject = 'Jan\\'s dispute' LIMIT 5",
            "SELECT Id, Subject FROM Case WHERE Subject = ? LIMIT ?",
        ),
        (
            "SELECT Id FROM Contact WHERE Email IN ('a@x.example', 'b@y.example')",
            "SELECT Id FROM Contact WHERE Email IN (?)",
        ),
        (
            "SELECT Id FROM Case WHERE CreatedDate > 2026-01-01T00:00:00Z AND Amount__c >= 12.5",
            "SELECT Id FROM Case WHERE CreatedDate > ? AND Amount__c >= ?",
        ),
        (
            "SELECT COUNT() FROM Case WHERE CreatedDate = LAST_N_DAYS:30 AND IsClosed = false",
            "SELECT COUNT() FROM Case WHERE CreatedDate = LAST_N_DAYS:? AND IsClosed = ?",
        ),
        (
            "SELECT  Id\n FROM Case WHERE ClosedDate = 2026-03-01 AND Owner.Name != null",
            "SELECT Id FROM Case WHERE ClosedDate = ? AND Owner.Name != ?",
        ),
    ],
)
def test_the_shape_of_a_query_has_no_literals(soql: str, shape: str) -> None:
    assert normalise_soql(soql) == shape


def _query_call(soql: str) -> dict[str, object]:
    return _described(f"{BASE}/query/?q={soql}", org_id="00D000000000001").as_dict()


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789@.-_ '\\", max_size=40),
    st.integers(min_value=-(10**9), max_value=10**9),
)
def test_a_literal_leaves_no_trace_in_the_entry(text: str, number: int) -> None:
    """The entry for any string and number literal equals the entry for other literals."""
    quoted = text.replace("\\", "\\\\").replace("'", "\\'")
    template = "SELECT Id FROM Case WHERE Description = '{}' AND Amount__c > {} LIMIT 10"
    assert _query_call(template.format(quoted, number)) == _query_call(template.format("x", 1))


def test_a_bulk_jobs_query_is_logged_from_the_request_body_without_its_literals() -> None:
    """A Bulk API 2.0 job carries its SOQL in the POST body, not the URL."""
    call = describe_call(
        method="POST",
        url=f"{BASE}/jobs/query",
        status=200,
        body_bytes=300,
        rows=None,
        latency_ms=12.0,
        org_id="00D5E0000000001UAA",
        lane="ROUTINE",
        grant_id=None,
        body_soql="SELECT Id, Subject FROM Case WHERE CreatedDate > 2026-01-01T00:00:00Z "
        "AND Subject != 'jan@example.nl'",
    )
    assert (call.resource, call.sobject, call.fields) == ("jobs/query", "Case", ("Id", "Subject"))
    assert call.soql == "SELECT Id, Subject FROM Case WHERE CreatedDate > ? AND Subject != ?"
    assert call.soql_sha256 is not None and "jan" not in json.dumps(call.as_dict())


@pytest.mark.parametrize(
    ("method", "url", "resource", "sobject", "fields"),
    [
        (
            "GET",
            f"{BASE}/query/?q=SELECT+Id,+Subject+FROM+Case",
            "query",
            "Case",
            ("Id", "Subject"),
        ),
        (
            "GET",
            f"{BASE}/sobjects/Case/5000X00000ABCdeQAF?fields=Subject,Description",
            "sobjects/Case",
            "Case",
            ("Subject", "Description"),
        ),
        (
            "PATCH",
            f"{BASE}/sobjects/AI_Result__c/Request_Event_Id__c/jan%40example.nl",
            "sobjects/AI_Result__c",
            "AI_Result__c",
            (),
        ),
        ("GET", f"{BASE}/jobs/query/7505g00000ABCdeAAF/results", "jobs/query/results", None, ()),
        ("GET", f"{BASE}/limits/", "limits", None, ()),
        ("POST", "https://login.example/services/oauth2/token", "oauth2/token", None, ()),
    ],
)
def test_resources_carry_no_ids_or_values(
    method: str, url: str, resource: str, sobject: str | None, fields: tuple[str, ...]
) -> None:
    call = _described(url, method)
    assert (call.resource, call.sobject, call.fields) == (resource, sobject, fields)
    text = json.dumps(call.as_dict())
    for secret in ("5000X00000ABCdeQAF", "7505g00000ABCdeAAF", "jan", "example.nl"):
        assert secret not in text


def test_the_caller_and_purpose_come_from_the_work_in_progress() -> None:
    assert current_context().principal == "unknown"
    with calls_made_as("classify", "summarise_case"):
        call = _described(f"{BASE}/limits/")
    assert (call.principal, call.purpose) == ("classify", "summarise_case")
    assert current_context().principal == "unknown"


def test_rows_are_counted_from_the_response() -> None:
    assert rows_in({"totalSize": 9, "records": [{}, {}]}, {}) == 2
    assert rows_in({"attributes": {"type": "Case"}, "Id": "x"}, {}) == 1
    assert rows_in(None, {"Sforce-NumberOfRecords": "250"}) == 250
    assert rows_in({"DailyApiRequests": {}}, {}) is None


def test_an_entry_becomes_one_emf_document(capsys: pytest.CaptureFixture[str]) -> None:
    with calls_made_as("classify", "summarise_case"):
        call = describe_call(
            method="GET",
            url=f"{BASE}/query/?q=SELECT Id FROM Case WHERE Subject = 'Jan Jansen'",  # noqa: S608
            status=200,
            body_bytes=2048,
            rows=3,
            latency_ms=12.34,
            org_id="00D000000000001AAA",
            lane="ROUTINE",
            grant_id=None,
        )
    EmfQueryLog("eu-de").record(call)
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    metrics = document["_aws"]["CloudWatchMetrics"][0]
    assert {m["Name"] for m in metrics["Metrics"]} == {
        "SalesforceCalls",
        "RowsReturned",
        "ResponseBytes",
        "CallLatency",
    }
    assert document["RowsReturned"] == [3.0] and document["OrgId"] == "00D000000000001"
    assert document["Principal"] == "classify" and document["purpose"] == "summarise_case"
    assert document["soql"] == "SELECT Id FROM Case WHERE Subject = ?"
    assert "Jan" not in json.dumps(document)


def test_a_function_invocation_logs_its_calls_as_itself_for_the_events_purpose() -> None:
    from sovgw.app.invocation import run_handler  # noqa: PLC0415

    seen = []

    def logic(event: object, deps: object) -> dict[str, object]:
        seen.append(current_context())
        return {}

    journey = "0b7a1c3e-5d2f-4e8a-9c1b-2f3e4d5c6b7a"
    event = {"id": "e1", "detail": {"id": journey, "payload": {"Purpose__c": "summarise_case"}}}
    deps = SimpleNamespace(canaries=lambda: NO_CANARIES, relay_ledger=None)  # what it reads
    run_handler("classify", logic, event, deps=deps)  # type: ignore[arg-type]
    forwarded = {"id": "e2", "detail": {"event_uuid": journey}}
    run_handler("route", logic, forwarded, deps=deps)  # type: ignore[arg-type]
    run_handler("rotate", logic, {"id": "e3", "detail": {}}, deps=deps)  # type: ignore[arg-type]
    assert [(c.principal, c.purpose, c.event_uuid) for c in seen] == [
        ("classify", "summarise_case", journey),
        ("route", None, journey),
        ("rotate", None, None),
    ]
    assert current_context().principal == "unknown"


class _Sink:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, record: AuditRecord) -> str:
        self.records.append(record)
        return f"memory://{record.record_id}"


def test_an_entry_is_a_salesforce_call_record_in_the_audit_trail() -> None:
    sink = _Sink()
    journey = "0b7a1c3e-5d2f-4e8a-9c1b-2f3e4d5c6b7a"
    with calls_made_as("classify", "summarise_case", journey):
        ok = _described(
            f"{BASE}/sobjects/Case/5000X00000ABCdeQAF?fields=Subject",
            rows=1,
            org_id="00D000000000001AAA",
        )
        failed = _described(f"{BASE}/limits/", status=503, org_id="00D000000000001AAA")
    QueryLogs(AuditQueryLog(sink, "eu-de")).record(ok)
    QueryLogs(AuditQueryLog(sink, "eu-de")).record(failed)
    first, second = sink.records
    assert first.stage is Stage.SALESFORCE_CALL and first.outcome is Outcome.OK
    assert (first.principal, first.purpose, first.fields_used) == (
        "classify",
        "summarise_case",
        ("Subject",),
    )
    assert first.salesforce_call is not None and first.salesforce_call.rows == 1
    assert first.salesforce_call.resource == "sobjects/Case"
    assert second.outcome is Outcome.FAILED and first.record_id != second.record_id
    assert first.links.salesforce_event_uuid == journey  # audit trace joins it to the request
    assert "5000X00000ABCdeQAF" not in first.model_dump_json()
