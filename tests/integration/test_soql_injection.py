"""RELIABILITY scenario 11: 200 SOQL-injection payloads in event fields are all refused by
the contract or the purpose allow-list, or bound as plain values when they reach SOQL."""

from __future__ import annotations

import copy
import itertools

import pytest

from sovgw.contracts import AIRequestEvent, ContractError, parse_event
from sovgw.domain.errors import RejectedInput
from sovgw.domain.minimise import fields_for
from tests.conftest import ORG_A, SeededSimulator, load_event

STEMS = [
    "' OR Id != null OR Name = '",
    "x' OR '1'='1",
    "'; DELETE FROM Case; --",
    "\\' OR Subject LIKE '%",
    "500' UNION SELECT Id FROM User WHERE '1'='1",
    "%' OR Status != '",
    "') OR (Id != null",
    "x\\' OR Id != null --",
    "' AND Name IN (SELECT Name FROM User) AND '",
    "\u2019 OR 1=1 --",
]
SUFFIXES = ["", " ", "--", "/*", "\n", "%00", "'", "\\", ")", "' LIMIT 1"]
PAYLOADS = [stem + suffix for stem, suffix in itertools.product(STEMS, SUFFIXES)][:100]
FIELDS = ["Record_Id__c", "Requested_By__c"]


def test_there_are_200_distinct_attempts() -> None:
    assert len({(f, p) for f in [*FIELDS, "Purpose__c"] for p in PAYLOADS}) >= 200


@pytest.mark.parametrize("field", FIELDS)
def test_id_fields_refuse_every_payload_at_the_contract(field: str) -> None:
    base = load_event("salesforce/ai_request_dispute_de.json")
    for payload in PAYLOADS:
        event = copy.deepcopy(base)
        event["detail"]["payload"][field] = payload
        with pytest.raises(ContractError, match=field):
            parse_event(AIRequestEvent, event)


def test_purpose_payloads_are_refused_by_the_allow_list() -> None:
    base = load_event("salesforce/ai_request_dispute_de.json")
    for payload in PAYLOADS:
        event = copy.deepcopy(base)
        event["detail"]["payload"]["Purpose__c"] = payload[:80]
        purpose = parse_event(AIRequestEvent, event).detail.payload.Purpose__c
        with pytest.raises(RejectedInput, match="unknown purpose"):
            fields_for(purpose, "Case")


def test_values_that_reach_soql_are_bound(salesforce: SeededSimulator) -> None:
    from sovgw.adapters.salesforce.records import SalesforceRecords  # noqa: PLC0415
    from sovgw.domain.write_back import AIResult, ResultStatus  # noqa: PLC0415

    records = SalesforceRecords(
        salesforce.credentials(ORG_A), ca_bundle=str(salesforce.server.ca_bundle)
    )
    records.upsert_result(
        "real-event",
        AIResult(
            related_record=salesforce.cases[ORG_A],
            request_event_id="real-event",
            purpose="summarise_case",
            data_level="INTERNAL",
            policy_rule=None,
            status=ResultStatus.COMPLETED,
        ),
    )
    for payload in PAYLOADS:
        assert records.find_result(payload) is None, payload
        assert records.field_levels(payload) == {}
