"""The Salesforce adapter (used by every function) against the simulator."""

import pytest

from sovgw.adapters.salesforce.oauth import SalesforceCredentials
from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.domain.levels import DataLevel
from sovgw.domain.write_back import AIResult, ResultStatus
from sovgw.sfsim.state import Fault
from tests.conftest import ORG_A, SeededSimulator


def _result(sf: SeededSimulator, event_uuid: str) -> AIResult:
    return AIResult(
        related_record=sf.cases[ORG_A],
        request_event_id=event_uuid,
        purpose="summarise_case",
        data_level="INTERNAL",
        policy_rule="rule-1",
        status=ResultStatus.COMPLETED,
    )


def _records(sf: SeededSimulator) -> SalesforceRecords:
    return SalesforceRecords(sf.credentials(ORG_A), ca_bundle=str(sf.server.ca_bundle))


def test_reads_only_the_allowed_fields_and_writes_results(salesforce: SeededSimulator) -> None:
    records = _records(salesforce)
    record = records.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
    assert record == {"Subject": "Case of Org A"}
    assert records.find_result("uuid-1") is None
    fields = _result(salesforce, "uuid-1")
    result_id = records.upsert_result("uuid-1", fields)
    assert records.find_result("uuid-1") == result_id
    assert records.find_result("uuid-1' OR Status__c = 'Completed") is None
    denied = fields.model_copy(update={"status": ResultStatus.DENIED})
    assert records.upsert_result("uuid-1", denied) == result_id
    rows = salesforce.sim.rest.query(
        salesforce.orgs[ORG_A], "SELECT Id, Status__c FROM AI_Result__c", "62.0"
    )
    assert [(r["Id"], r["Status__c"]) for r in rows["records"]] == [(result_id, "Denied")]


def test_concurrent_duplicate_deliveries_write_one_result(salesforce: SeededSimulator) -> None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    fields = _result(salesforce, "dup-1")
    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(
            pool.map(lambda _: _records(salesforce).upsert_result("dup-1", fields), range(6))
        )
    assert len(set(ids)) == 1
    rows = salesforce.sim.rest.query(salesforce.orgs[ORG_A], "SELECT Id FROM AI_Result__c", "62.0")
    assert rows["totalSize"] == 1


def test_field_levels_come_from_custom_metadata(salesforce: SeededSimulator) -> None:
    salesforce.sim.insert(
        salesforce.orgs[ORG_A],
        "Data_Classification__mdt",
        {
            "DeveloperName": "C_S",
            "Object__c": "Case",
            "Field__c": "Subject",
            "Level__c": "INTERNAL",
        },
    )
    salesforce.sim.insert(
        salesforce.orgs[ORG_A],
        "Data_Classification__mdt",
        {
            "DeveloperName": "C_D",
            "Object__c": "Case",
            "Field__c": "Description",
            "Level__c": "bogus",
        },
    )
    levels = _records(salesforce).field_levels("Case")
    assert levels == {"Subject": DataLevel.INTERNAL, "Description": DataLevel.PRIVILEGED}


def test_expired_session_logs_in_once_more(salesforce: SeededSimulator) -> None:
    records = _records(salesforce)
    records.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
    salesforce.sim.expire_sessions(salesforce.orgs[ORG_A])
    assert (
        records.get_record("Case", salesforce.cases[ORG_A], ["Subject"])["Subject"]
        == "Case of Org A"
    )


def test_errors_are_classified_for_retry_or_dead_letter(salesforce: SeededSimulator) -> None:
    records = _records(salesforce)
    with pytest.raises(RejectedInput, match="not found"):
        records.get_record("Case", "5005E00000000ZZQAA"[:15], ["Subject"])
    salesforce.sim.inject_fault(
        salesforce.orgs[ORG_A], Fault("GET", "/sobjects/Case", 503, "SERVER_UNAVAILABLE", "down", 1)
    )
    with pytest.raises(UpstreamUnavailable, match="SERVER_UNAVAILABLE"):
        records.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
    salesforce.orgs[ORG_A].daily_api_limit = 0
    with pytest.raises(UpstreamUnavailable, match="REQUEST_LIMIT_EXCEEDED"):
        records.get_record("Case", salesforce.cases[ORG_A], ["Subject"])


def test_refused_credential_error_names_the_code_not_the_secret(
    salesforce: SeededSimulator,
) -> None:
    bad = SalesforceRecords(
        SalesforceCredentials(
            token_url=salesforce.server.token_url, client_id="client-A", client_secret="wrong"
        ),
        ca_bundle=str(salesforce.server.ca_bundle),
    )
    with pytest.raises(UpstreamUnavailable, match="invalid_client") as raised:
        bad.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
    assert "wrong" not in str(raised.value)


def test_refused_writes_do_not_poison_the_keep_alive_connection(
    salesforce: SeededSimulator,
) -> None:
    records = _records(salesforce)
    fault = Fault("PATCH", "/sobjects/AI_Result__c", 503, "SERVER_UNAVAILABLE", "busy", 2)
    salesforce.sim.inject_fault(salesforce.orgs[ORG_A], fault)
    fields = _result(salesforce, "u")
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable, match="503"):
            records.upsert_result("u", fields)
    assert records.upsert_result("u", fields).startswith("a01")
