"""The foundation's end-to-end path through real components.

Salesforce simulator → Event Relay → EventBridge (LocalStack) → SQS → classify → EventBridge →
route → model endpoint (SageMaker protocol) → Salesforce write-back → S3 Object Lock audit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from simple_salesforce.format import format_soql

from sovgw.domain.audit import Stage, audit_record_id
from sovgw.local.localstack import health
from sovgw.local.stack import LocalSovereignStack
from sovgw.sfsim.state import Fault
from tests.conftest import load_event, wait_until

DE_ORG = "00D5E0000000001UAA"
DISPUTE_CASE = "5005E000000001dQAA"
REQUESTER = "0055E000000000CQAQ"
PERSONAL_VALUES = ("max.mueller@example.de", "+49 151 2345 6789", "DE89 3704 0044 0532 0130 00")


def _results(stack: LocalSovereignStack, org_id: str, event_uuid: str) -> list[dict[str, Any]]:
    assert stack.salesforce is not None
    query = stack.salesforce.sim.rest.query(
        stack.salesforce.sim.org(org_id),
        format_soql(
            "SELECT Id, Status__c, Model_Region__c, Model_Endpoint__c, Result__c, Data_Level__c "
            "FROM AI_Result__c WHERE Request_Event_Id__c = {}",
            event_uuid,
        ),
        "62.0",
    )
    return list(query["records"])


def _audit(
    stack: LocalSovereignStack, jurisdiction: str, org_id: str, uuid: str, stage: Stage
) -> Any:
    j = stack.config.jurisdiction(jurisdiction)
    assert j is not None
    s3 = stack.session(j.region).client("s3")
    key = f"records/{jurisdiction}/{org_id}/{audit_record_id(uuid, stage)}.json"
    return s3.get_object(Bucket=j.audit_bucket, Key=key)


def _dlq_reasons(stack: LocalSovereignStack, jurisdiction: str, function: str) -> dict[str, str]:
    found = stack.deployments[jurisdiction].dead_letters(function)
    return {str(m["event"].get("id")): str(m["reason"]) for m in found}


def test_localstack_is_really_there(stack: LocalSovereignStack) -> None:
    assert stack.localstack is not None
    status = health("http://127.0.0.1:4566")
    assert status is not None
    assert status["services"]["events"] in {"running", "available"}  # type: ignore[index]


def test_ai_request_flows_end_to_end_and_stays_in_region(stack: LocalSovereignStack) -> None:
    uuid = stack.publish_platform_event(
        DE_ORG,
        "AI_Request__e",
        {
            "Record_Id__c": DISPUTE_CASE,
            "Purpose__c": "summarise_case",
            "Requested_By__c": REQUESTER,
        },
    )
    (result,) = wait_until(lambda: _results(stack, DE_ORG, uuid))
    assert result["Status__c"] == "Completed"
    assert result["Model_Region__c"] == "eu-central-1"
    assert result["Data_Level__c"] == "PRIVILEGED"
    (sent,) = [
        " ".join(m["content"] for m in messages)
        for region, _, messages in stack.models.received
        if region == "eu-central-1" and "Kündigungsschutzklage" in messages[-1]["content"]
    ][-1:]
    assert "[EMAIL_1]" in sent and "[IBAN_1]" in sent and "[PHONE_1]" in sent
    for value in PERSONAL_VALUES:
        assert value not in sent, "a personal value reached the model"
    assert "max.mueller@example.de" in result["Result__c"], "restored for the write-back"

    invocation = _audit(stack, "eu-de", DE_ORG, uuid, Stage.MODEL_INVOCATION)
    assert invocation["ObjectLockMode"] == "COMPLIANCE"
    record = json.loads(invocation["Body"].read())
    assert record["region"] == "eu-central-1" and record["links"]["aws_request_ids"]
    assert record["links"]["salesforce_event_uuid"] == uuid
    assert record["links"]["lambda_request_id"].startswith("local-")
    write_back = json.loads(_audit(stack, "eu-de", DE_ORG, uuid, Stage.WRITE_BACK)["Body"].read())
    assert write_back["links"]["salesforce_result_id"] == result["Id"]
    all_audit = json.dumps(record) + json.dumps(write_back)
    for value in PERSONAL_VALUES:
        assert value not in all_audit
    assert all(region != "us-east-1" for region, _ in stack.models.invocations)


def test_jurisdiction_without_sovereign_endpoint_denies_personal_data(
    stack: LocalSovereignStack,
) -> None:
    before = list(stack.models.invocations)
    uuid = stack.publish_platform_event(
        "00D5H0000000004UAA",
        "AI_Request__e",
        {
            "Record_Id__c": "5005H000000006TQAQ",
            "Purpose__c": "draft_reply",
            "Requested_By__c": "0055H000000000CQAQ",
        },
    )
    (result,) = wait_until(lambda: _results(stack, "00D5H0000000004UAA", uuid))
    assert result["Status__c"] == "Denied" and result["Model_Region__c"] is None
    routing = json.loads(
        _audit(stack, "eu-nl", "00D5H0000000004UAA", uuid, Stage.ROUTING)["Body"].read()
    )
    assert (
        routing["outcome"] == "denied" and routing["rule_id"] == "drafting.external-pseudonymised"
    )
    assert "external endpoints receive only PUBLIC data" in routing["reason"]
    assert routing["excluded"] == [routing["reason"].split(": ", 1)[1]]
    assert [i for i in stack.models.invocations[len(before) :] if i[0] == "eu-west-1"] == []


def _handled_end_to_end(stack: LocalSovereignStack, put: set[str]) -> bool:
    """Every copy in ``put`` was classified, and what classify published was routed."""
    deliveries = [d for d in list(stack.deployments["eu-de"].deliveries) if d.status != "retrying"]
    classified = [d for d in deliveries if d.function == "classify" and d.event_id in put]
    published = {str(d.result.get("event_id")) for d in classified if d.result.get("event_id")}
    routed = {d.event_id for d in deliveries if d.function == "route"}
    return len(classified) == len(put) and published <= routed


def test_duplicate_deliveries_have_one_side_effect(stack: LocalSovereignStack) -> None:
    envelope = load_event("salesforce/ai_request_lease_de.json")
    put = {stack.put_envelope(envelope) for _ in range(3)}
    uuid = envelope["detail"]["id"]
    wait_until(lambda: _handled_end_to_end(stack, put), "every copy handled end to end")
    assert len(_results(stack, DE_ORG, uuid)) == 1
    s3 = stack.session("eu-central-1").client("s3")
    key = f"records/eu-de/{DE_ORG}/{audit_record_id(uuid, Stage.WRITE_BACK)}.json"
    versions = s3.list_object_versions(Bucket="sovgw-audit-eu-de", Prefix=key).get("Versions", [])
    assert len(versions) == 1


@pytest.mark.parametrize(
    ("relative", "function", "reason"),
    [
        ("invalid/ai_request_missing_purpose.json", "classify", "Purpose__c: Field required"),
        ("invalid/ai_request_unknown_org.json", "classify", "not bound to any jurisdiction"),
        (
            "salesforce/case_change_de.json",
            "unrouted",
            "no route for detail-type 'CaseChangeEvent'",
        ),
    ],
)
def test_bad_or_unknown_events_land_in_the_dlq_with_the_reason(
    stack: LocalSovereignStack, relative: str, function: str, reason: str
) -> None:
    event_id = stack.put_envelope(load_event(relative))
    reasons = wait_until(lambda: _dlq_reasons(stack, "eu-de", function).get(event_id))
    assert reason in reasons
    s3 = stack.session("eu-central-1").client("s3")
    rejection_id = audit_record_id(f"{event_id}/{function}", Stage.REJECTION)
    found = s3.list_objects_v2(Bucket="sovgw-audit-eu-de", Prefix="records/eu-de/")["Contents"]
    (key,) = [item["Key"] for item in found if item["Key"].endswith(f"/{rejection_id}.json")]
    rejection = json.loads(s3.get_object(Bucket="sovgw-audit-eu-de", Key=key)["Body"].read())
    assert rejection["outcome"] == "rejected" and reason in rejection["reason"]


def test_transient_failures_are_retried_and_permanent_ones_dead_lettered(
    stack: LocalSovereignStack,
) -> None:
    assert stack.salesforce is not None
    org = stack.salesforce.sim.org(DE_ORG)
    fields = {
        "Record_Id__c": "5005E000000001eQAA",
        "Purpose__c": "draft_reply",
        "Requested_By__c": REQUESTER,
    }

    stack.salesforce.sim.inject_fault(
        org, Fault("PATCH", "/sobjects/AI_Result__c", 503, "SERVER_UNAVAILABLE", "busy", 2)
    )
    healed = stack.publish_platform_event(DE_ORG, "AI_Request__e", fields)
    (result,) = wait_until(lambda: _results(stack, DE_ORG, healed), timeout=60)
    assert result["Status__c"] == "Completed"

    stack.salesforce.sim.inject_fault(
        org, Fault("PATCH", "/sobjects/AI_Result__c", 503, "SERVER_UNAVAILABLE", "busy", 100)
    )
    doomed = stack.publish_platform_event(DE_ORG, "AI_Request__e", fields)

    def parked() -> str | None:
        for message in stack.deployments["eu-de"].dead_letters("route"):
            if message["event"]["detail"]["request"]["event_uuid"] == doomed:
                return str(message["reason"])
        return None

    reason = wait_until(parked, timeout=60)
    assert "gave up after 4 attempts" in reason and "SERVER_UNAVAILABLE" in reason
    org.faults.clear()


def test_no_healthy_endpoint_fails_closed_and_keeps_the_event(stack: LocalSovereignStack) -> None:
    """All of eu-fr's endpoints down: nothing is written back, nothing goes elsewhere, and the
    classified event is retried, then parked in route's DLQ with the reason (replayable)."""
    fr_org = "00D5F0000000002UAA"
    down = ("eu-west-3", "sovgw-eu-fr-llm")
    before = list(stack.models.invocations)
    stack.models.unavailable.add(down)
    try:
        uuid = stack.publish_platform_event(
            fr_org,
            "AI_Request__e",
            {
                "Record_Id__c": "8005F000000003FQAQ",
                "Purpose__c": "review_clause",
                "Requested_By__c": "0055F000000000CQAQ",
            },
        )
        parked = wait_until(
            lambda: [
                m
                for m in stack.deployments["eu-fr"].dead_letters("route")
                if m["event"]["detail"]["request"]["event_uuid"] == uuid
            ]
        )
    finally:
        stack.models.unavailable.discard(down)
        stack.deployments["eu-fr"].deps.breakers.breakers.clear()
    assert "no healthy endpoint among those the policy allows" in parked[0]["reason"]
    assert _results(stack, fr_org, uuid) == []
    assert stack.models.invocations[len(before) :] == []
    routing = json.loads(_audit(stack, "eu-fr", fr_org, uuid, Stage.ROUTING)["Body"].read())
    assert routing["outcome"] == "ok" and routing["candidates"] == ["sovgw-eu-fr-llm@eu-west-3"]
