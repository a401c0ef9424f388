"""Leak canaries end to end: planted with ``sovgw canary plant`` (a case in the simulator,
created with an administrator's own session; the values sealed in LocalStack's Secrets
Manager with the jurisdiction key), then seen in prompts bound for a vendor, through the
stack's proxy: refused, and an incident opened at once in the jurisdiction's audit bucket
(a second sighting that day adds evidence to it). A pipeline request on the canary case is
kept from the vendor by the policy already. A model's answer, a dead letter's reason and a
function's log line holding one are withheld and open incidents too."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from simple_salesforce.format import format_soql

from functions.classify import handler as classify_handler
from sovgw.adapters.aws.canaries import store_canaries
from sovgw.adapters.aws.incidents import S3IncidentStore
from sovgw.adapters.salesforce.oauth import SalesforceCredentials, http_session, request_token
from sovgw.app.bootstrap import Dependencies
from sovgw.app.invocation import logger
from sovgw.cli import main
from sovgw.domain.canaries import CanarySet, new_canaries
from sovgw.local.stack import LocalSovereignStack
from sovgw.logs import CANARY_WITHHELD
from sovgw.sfsim.state import ConnectedApp
from tests.conftest import ROOT, wait_until

CONFIG = str(ROOT / "config" / "gateway.yaml")
ORG = "00D5H0000000004UAA"  # Northwind, eu-nl: its FAQ app's destination is a vendor
FAQ_KEY = "sk-sovgw-demo-northwind-faq"


def test_a_planted_canary_bound_for_a_vendor_is_refused_and_opens_an_incident(
    stack: LocalSovereignStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    org = sim.org(ORG)
    admin = sim.add_user(org, "admin@northwind-hr.example", "admin@northwind-hr.example", "Admin")
    client_secret = secrets.token_urlsafe(24)
    sim.add_app(org, ConnectedApp("3MVG9canaryadmin", client_secret, run_as_user_id=admin))
    ca_bundle = str(stack.salesforce.ca_bundle)
    session = request_token(
        SalesforceCredentials(
            token_url=stack.salesforce.token_url,
            client_id="3MVG9canaryadmin",
            client_secret=client_secret,
        ),
        http_session(ca_bundle),
    )
    monkeypatch.setenv("SOVGW_SALESFORCE_CA_BUNDLE", ca_bundle)
    monkeypatch.setenv("SOVGW_SALESFORCE_ADMIN_TOKEN", session.access_token.get_secret_value())
    code = main(
        [
            "canary",
            "plant",
            "--org",
            ORG,
            "--instance-url",
            session.instance_url,
            "--config",
            CONFIG,
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed

    sm = stack.session("eu-west-1").client("secretsmanager")
    name = f"sovgw/eu-nl/canaries/{ORG}"
    assert sm.describe_secret(SecretId=name)["KmsKeyId"] == "alias/sovgw-eu-nl"
    planted = CanarySet.model_validate_json(sm.get_secret_value(SecretId=name)["SecretString"])
    values = {c.kind: c.value for c in planted.canaries}
    assert not any(v in printed for v in values.values()), "the values are never printed"
    [case] = sim.rest.query(
        org,
        format_soql("SELECT Subject, Description FROM Case WHERE Id = {}", planted.record_id),
        "62.0",
    )["records"]
    assert values["reference"] in case["Subject"] and values["iban"] in case["Description"]

    _, server = stack.start_proxy(ROOT / "config" / "proxy.yaml")  # loads the planted set
    for attempt in range(2):
        refused = requests.post(
            f"{server.url}/v1/chat/completions",
            json={
                "messages": [
                    {"role": "user", "content": f"Reply to {values['email']}, try {attempt}"}
                ]
            },
            headers={"Authorization": f"Bearer {FAQ_KEY}"},
            timeout=10,
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "canary_detected"
    # The pipeline path: an AI request on the canary case itself (no purpose should read it);
    # its prompt would go to the vendor. The case reference survives pseudonymisation.
    uuid = stack.publish_platform_event(
        ORG,
        "AI_Request__e",
        {
            "Record_Id__c": planted.record_id,
            "Purpose__c": "draft_reply",
            "Requested_By__c": "0055H000000000CQAQ",
        },
    )
    soql = format_soql(
        "SELECT Status__c, Result__c FROM AI_Result__c WHERE Request_Event_Id__c = {}", uuid
    )
    [result] = wait_until(lambda: sim.rest.query(org, soql, "62.0")["records"], "the result")
    # Case descriptions are CONFIDENTIAL here: the policy keeps the record from the vendor
    # before the canary is looked at (tests/unit/test_pipeline.py drives a PUBLIC one to it).
    assert result["Status__c"] == "Denied" and "only PUBLIC" in result["Result__c"]

    store = S3IncidentStore(stack.session("eu-west-1").client("s3"), "sovgw-audit-eu-nl")
    opened = [i for i in store.incident_ids() if i.startswith("INC-eu-nl-")]
    assert len(opened) == 1, "one incident per org, path and day"
    events = store.events(opened[0])
    assert events[0].title == f"Leak canary of org {ORG} seen: external prompt"
    assert events[0].personal_data and events[0].org_id == ORG
    linked = [e.ref for event in events for e in event.evidence if e.kind == "audit_record"]
    assert len(linked) == 2, "the second sighting added its evidence to the same incident"
    assert not any(v in e.model_dump_json() for e in events for v in values.values())


CONTOSO = "00D5E0000000001UAA"  # eu-de: its legal app's destinations are in-region


def _contoso_canaries(stack: LocalSovereignStack) -> dict[str, str]:
    """Canaries for Contoso, sealed in LocalStack as ``canary plant`` keeps them (the record
    itself is not needed for these paths)."""
    jurisdiction = stack.config.jurisdiction("eu-de")
    assert jurisdiction is not None
    planted = new_canaries(CONTOSO, datetime.now(UTC))
    store_canaries(stack.session("eu-central-1").client("secretsmanager"), jurisdiction, planted)
    return {c.kind: c.value for c in planted.canaries}


def _incident_titles(stack: LocalSovereignStack) -> list[str]:
    store = S3IncidentStore(stack.session("eu-central-1").client("s3"), "sovgw-audit-eu-de")
    return [store.events(i)[0].title or "" for i in store.incident_ids()]


def test_a_canary_in_a_models_answer_and_in_a_dead_letter_opens_incidents(
    stack: LocalSovereignStack,
) -> None:
    values = _contoso_canaries(stack)
    _, server = stack.start_proxy(ROOT / "config" / "proxy.yaml")
    # The in-region model may read the reference (no vendor involved); the local model
    # echoes what it received, so its answer holds the canary: withheld.
    answered = requests.post(
        f"{server.url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": f"Status of {values['reference']}?"}]},
        headers={"Authorization": "Bearer sk-sovgw-demo-contoso-legal"},
        timeout=10,
    )
    assert answered.status_code == 502 and answered.json()["error"]["code"] == "canary_detected"
    assert values["reference"] not in answered.text
    # A request naming the reference as its purpose is refused by classify; the dead letter's
    # reason would quote it: withheld there, and raised.
    stack.publish_platform_event(
        CONTOSO,
        "AI_Request__e",
        {
            "Record_Id__c": "5005E000000001dQAA",
            "Purpose__c": values["reference"],
            "Requested_By__c": "0055E000000000CQAQ",
        },
    )
    letters = wait_until(
        lambda: [
            m for m in stack.deployments["eu-de"].dead_letters("classify")
            if "leak canary" in str(m["reason"])
        ],
        "the dead letter",
    )  # fmt: skip
    assert all(values["reference"] not in str(m["reason"]) for m in letters)
    titles = wait_until(
        lambda: (
            {t for t in _incident_titles(stack) if CONTOSO in t}
            >= {
                f"Leak canary of org {CONTOSO} seen: model output",
                f"Leak canary of org {CONTOSO} seen: dead letter reason",
            }
        ),
        "both incidents",
    )
    assert titles


def test_a_canary_in_a_functions_log_line_is_withheld_and_opens_an_incident(
    stack: LocalSovereignStack,
    monkeypatch: pytest.MonkeyPatch,
    capture_gateway_logs: list[str],
) -> None:
    """The gateway's own log lines carry no record values (tests/e2e/test_log_scan.py), so
    this adds the line a developer might while debugging: classify, running in the stack,
    logs the subject of the case it read. The case's subject holds a canary."""
    values = _contoso_canaries(stack)
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    case = sim.insert(
        sim.org(CONTOSO),
        "Case",
        {
            "Subject": f"Follow-up {values['reference']}",
            "Description": "call back",
            "Status": "New",
        },
    )
    original = classify_handler.handle

    def handle_and_log_the_subject(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
        result = original(event, deps)
        record = deps.crm_for(CONTOSO).get_record("Case", case, ["Subject"])
        logger.info("debug: case read", subject=record["Subject"])
        return result

    monkeypatch.setattr(classify_handler, "handle", handle_and_log_the_subject)
    stack.publish_platform_event(
        CONTOSO,
        "AI_Request__e",
        {
            "Record_Id__c": case,
            "Purpose__c": "summarise_case",
            "Requested_By__c": "0055E000000000CQAQ",
        },
    )
    wait_until(
        lambda: f"Leak canary of org {CONTOSO} seen: log line" in _incident_titles(stack),
        "the incident",
    )
    [line] = [line for line in capture_gateway_logs if "debug: case read" in line]
    assert values["reference"] not in line and CANARY_WITHHELD in line
    assert not any(values["reference"] in line for line in capture_gateway_logs)


def test_a_canary_in_the_proxys_own_log_line_is_withheld_and_raised(
    stack: LocalSovereignStack,
    monkeypatch: pytest.MonkeyPatch,
    capture_gateway_logs: list[str],
) -> None:
    """The proxy logs an unexpected failure with its traceback; a failure whose message
    quotes the request (the bug this stands for) would carry a canary into that line."""
    values = _contoso_canaries(stack)
    proxy, server = stack.start_proxy(ROOT / "config" / "proxy.yaml")

    async def failing_prepare(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"could not prepare {kwargs.get('body') or args}")

    monkeypatch.setattr(proxy, "prepare_async", failing_prepare)
    logged_before = len(capture_gateway_logs)
    failed = requests.post(
        f"{server.url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": f"Status of {values['reference']}?"}]},
        headers={"Authorization": "Bearer sk-sovgw-demo-contoso-legal"},
        timeout=10,
    )
    assert failed.status_code == 500 and values["reference"] not in failed.text
    [line] = [line for line in capture_gateway_logs[logged_before:] if "proxy failed" in line]
    assert CANARY_WITHHELD in line and values["reference"] not in line
    s3 = stack.session("eu-central-1").client("s3")
    prefix = f"records/eu-de/{CONTOSO}/"

    def proxy_records() -> list[dict[str, Any]]:
        found = []
        for item in s3.list_objects_v2(Bucket="sovgw-audit-eu-de", Prefix=prefix).get(
            "Contents", []
        ):
            body = s3.get_object(Bucket="sovgw-audit-eu-de", Key=item["Key"])["Body"].read()
            record = json.loads(body)
            if record.get("principal") == "proxy" and "log line" in (record.get("reason") or ""):
                found.append(record)
        return found

    [record] = wait_until(proxy_records, "the proxy's canary record")  # one per line
    store = S3IncidentStore(s3, "sovgw-audit-eu-de")
    linked = {
        e.ref
        for incident_id in store.incident_ids()
        for event in store.events(incident_id)
        for e in event.evidence
    }
    assert record["record_id"] in linked
