"""Anomaly detection with containment end to end: a principal's reads outside its purpose go
through the stack's own Salesforce access (simulator, real HTTPS) into the query log (audit
trail in LocalStack's S3) and the live feed (redis-server); the scheduled ``anomaly_watch``
closes the hour: an anomaly audit record, the suspension, the metric the stack alarms on.
The pipeline's next request for that principal is held with the reason, ``sovgw health``
says why (exit 1), and after ``sovgw anomaly lift`` a request goes through again."""

from __future__ import annotations

import dataclasses
import json

import pytest
from simple_salesforce.format import format_soql

from functions.anomaly_watch.handler import handle
from sovgw.app.invocation import run_handler
from sovgw.cli import main
from sovgw.domain.audit import AuditRecord, Stage
from sovgw.domain.budget import Lane
from sovgw.domain.query_log import calls_made_as
from sovgw.local.stack import LocalSovereignStack
from tests.conftest import ROOT, wait_until

CONFIG = str(ROOT / "config" / "gateway.yaml")
ORG = "00D5H0000000004UAA"  # Northwind, eu-nl
CASE = "5005H000000006TQAQ"
LATER_MS = 66 * 60 * 1000  # the watcher's clock: past the hour's end and its grace

TICK = {
    "version": "0",
    "id": "5b0f8c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "000000000000",
    "time": "2026-12-02T08:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:events:eu-west-1:000000000000:rule/sovgw-eu-nl-anomaly_watch"],
    "detail": {},
}


def _audit_records(stack: LocalSovereignStack, stage: Stage) -> list[AuditRecord]:
    s3 = stack.session("eu-west-1").client("s3")
    bucket = stack.deployments["eu-nl"].deps.jurisdiction.audit_bucket
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="records/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            record = AuditRecord.model_validate_json(body)
            if record.stage is stage and record.org_id == ORG:
                found.append(record)
    return found


def _request(stack: LocalSovereignStack) -> str:
    return stack.publish_platform_event(
        ORG,
        "AI_Request__e",
        {
            "Record_Id__c": CASE,
            "Purpose__c": "summarise_case",
            "Requested_By__c": "0055H000000000CQAQ",
        },
    )


def _answered(stack: LocalSovereignStack, event_uuid: str) -> bool:
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    soql = format_soql("SELECT Id FROM AI_Result__c WHERE Request_Event_Id__c = {}", event_uuid)
    return bool(sim.rest.query(sim.org(ORG), soql, "62.0")["records"])


def test_a_read_outside_its_purpose_suspends_the_principal_until_lifted(
    stack: LocalSovereignStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert stack.salesforce is not None and stack.valkey is not None
    sim = stack.salesforce.sim
    org = sim.org(ORG)
    for n in range(4):
        sim.insert(org, "Contract", {"Status": "Draft", "Description": f"Agreement {n}"})
    deployment = stack.deployments["eu-nl"]
    deps = deployment.deps
    monkeypatch.setenv("SOVGW_BUDGET_STORE_URL", stack.valkey.url)
    try:
        # A compromised "classify": contracts read under a case-summary purpose.
        with calls_made_as("classify", "summarise_case"):
            read = deps.salesforce(ORG, Lane.INTERACTIVE, None).query(
                "SELECT Id, Description, SpecialTerms FROM Contract LIMIT 50"
            )
        assert len(read) >= 4

        later = dataclasses.replace(deps, clock_ms=lambda: stack.now_ms() + LATER_MS)
        result = run_handler("anomaly_watch", handle, TICK, later)
        printed = capsys.readouterr().out
        assert result["status"] == "watched", result
        assert result["flags"] == [f"{ORG}:classify:sensitive_object"], result
        assert result["suspended"] == {ORG: ["classify"]}
        documents = [json.loads(line) for line in printed.splitlines() if '"_aws"' in line]
        [suspended] = next(d for d in documents if "PrincipalsSuspended" in d)[
            "PrincipalsSuspended"
        ]
        assert suspended == 1

        [record] = _audit_records(stack, Stage.ANOMALY)
        assert record.anomaly is not None and record.anomaly.sobject == "Contract"
        assert record.principal == "classify" and "Agreement" not in record.model_dump_json()
        calls = [
            r
            for r in _audit_records(stack, Stage.SALESFORCE_CALL)
            if r.salesforce_call and r.salesforce_call.sobject == "Contract"
        ]
        assert calls and calls[0].principal == "classify"  # the query log behind the flag

        code = main(["health", "--org", ORG, "--config", CONFIG])
        health = json.loads(capsys.readouterr().out)
        assert code == 1
        assert record.record_id in health["suspended"]["classify"]
        # The operator's run of the watcher: those hours are closed, the suspension stands.
        code = main(["anomaly", "watch", "--jurisdiction", "eu-nl", "--config", CONFIG])
        watched = json.loads(capsys.readouterr().out)
        assert code == 1 and watched["flags"] == [] and watched["suspended"][ORG] == ["classify"]

        held = _request(stack)
        wait_until(
            lambda: any(
                "principal classify is suspended" in d["reason"]
                for d in deployment.dead_letters("classify")
            ),
            "the held request dead-lettered with the suspension as its reason",
            timeout=60,
        )
        assert not _answered(stack, held)
    finally:
        code = main(
            [
                "anomaly", "lift", "--org", ORG, "--principal", "classify",
                "--reason", "reviewed: test query by the integration owner", "--config", CONFIG,
            ]
        )  # fmt: skip
    assert code == 0, capsys.readouterr()
    lifted = [
        r for r in _audit_records(stack, Stage.ANOMALY) if r.anomaly and r.anomaly.kind == "lifted"
    ]
    assert lifted and lifted[0].reason == "reviewed: test query by the integration owner"
    assert main(["health", "--org", ORG, "--config", CONFIG]) == 0
    assert main(["anomaly", "watch", "--jurisdiction", "eu-nl", "--config", CONFIG]) == 0
    capsys.readouterr()

    answered = _request(stack)
    wait_until(lambda: _answered(stack, answered), "a request after the lift answered", 60)
