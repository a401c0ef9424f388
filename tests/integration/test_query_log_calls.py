"""Every Salesforce call the adapter makes is a query-log entry, measured against the
simulator over HTTPS: token request, queries, a record read and an upsert (issue #16)."""

from __future__ import annotations

import json

from sovgw.adapters.salesforce.bulk import SalesforceBulkQueries
from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.domain.budget import Lane
from sovgw.domain.query_log import SalesforceCall, calls_made_as
from sovgw.domain.write_back import AIResult, ResultStatus
from tests.conftest import ORG_A, SeededSimulator


class Collected:
    def __init__(self) -> None:
        self.calls: list[SalesforceCall] = []

    def record(self, call: SalesforceCall) -> None:
        self.calls.append(call)


def test_each_call_is_an_entry_with_its_measurements_and_no_values(
    salesforce: SeededSimulator,
) -> None:
    log = Collected()
    records = SalesforceRecords(
        salesforce.credentials(ORG_A),
        ca_bundle=str(salesforce.server.ca_bundle),
        lane=Lane.ROUTINE,
        org_id=ORG_A,
        query_log=log,
    )
    case_id = salesforce.cases[ORG_A]
    with calls_made_as("classify", "summarise_case"):
        found = records.get_record("Case", case_id, ["Subject", "Description"])
        rows = records.query("SELECT Id, Subject FROM Case WHERE Subject = 'Case of Org A'")
        SalesforceBulkQueries(records).create(
            "SELECT Id, Subject FROM Case WHERE Subject = 'Case of Org A'"
        )
        records.upsert_result(
            "event-42",
            AIResult(
                related_record=case_id,
                request_event_id="event-42",
                purpose="summarise_case",
                data_level="INTERNAL",
                policy_rule=None,
                status=ResultStatus.COMPLETED,
            ),
        )
    assert found["Subject"] == "Case of Org A" and len(rows) == 1
    summary = [(c.method, c.resource, c.sobject, c.rows) for c in log.calls]
    assert summary == [
        ("POST", "oauth2/token", None, None),
        ("GET", "sobjects/Case", "Case", 1),
        ("GET", "query", "Case", 1),
        ("POST", "jobs/query", "Case", None),  # a Bulk API job: its SOQL is in the body
        ("PATCH", "sobjects/AI_Result__c", "AI_Result__c", None),
    ]
    for call in log.calls:
        assert (call.org_id, call.lane, call.principal, call.purpose) == (
            ORG_A,
            "ROUTINE",
            "classify",
            "summarise_case",
        )
        assert call.status in {200, 201} and call.bytes > 0 and call.latency_ms >= 0
    query, bulk = log.calls[2], log.calls[3]
    assert query.fields == bulk.fields == ("Id", "Subject")
    assert query.soql == bulk.soql == "SELECT Id, Subject FROM Case WHERE Subject = ?"
    assert query.soql_sha256 is not None and len(query.soql_sha256) == 64
    logged = json.dumps([c.as_dict() for c in log.calls])
    for value in (case_id, "Case of Org A", "x@y.example", "event-42", "client-A"):
        assert value not in logged
