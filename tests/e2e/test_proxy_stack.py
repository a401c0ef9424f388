"""The proxy through the local stack: two jurisdictions, a sovereign SageMaker endpoint and an
external OpenAI-compatible one, upstream keys from LocalStack Secrets Manager, audit records
in each jurisdiction's Object Lock bucket."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from sovgw.adapters.aws.audit import audit_record_key
from sovgw.domain.audit import Stage, audit_record_id
from sovgw.local.stack import LocalSovereignStack
from tests.conftest import ROOT

EMAIL = "jan.devries@example.nl"


@pytest.fixture(scope="module")
def proxy_url(stack: LocalSovereignStack) -> str:
    """The stack stops the proxy with everything else."""
    _, server = stack.start_proxy(ROOT / "config" / "proxy.yaml")
    return server.url


def _post(url: str, app: str, content: str, **extra: Any) -> requests.Response:
    return requests.post(
        f"{url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": content}], **extra},
        headers={"Authorization": f"Bearer sk-sovgw-demo-{app}"},
        timeout=30,
    )


def _audit_record(stack: LocalSovereignStack, jurisdiction: str, request_id: str) -> Any:
    j = stack.config.jurisdiction(jurisdiction)
    assert j is not None
    key = audit_record_key(
        jurisdiction, None, audit_record_id(f"proxy/{request_id}", Stage.MODEL_INVOCATION)
    )
    s3 = stack.session(j.region).client("s3")
    return json.loads(s3.get_object(Bucket=j.audit_bucket, Key=key)["Body"].read())


def test_two_jurisdictions_each_to_its_own_endpoint_and_audit_bucket(
    stack: LocalSovereignStack, proxy_url: str
) -> None:
    sovereign = _post(proxy_url, "contoso-legal", f"Summarise the complaint of {EMAIL}.")
    external = _post(proxy_url, "northwind-faq", f"Answer {EMAIL} about opening hours.")
    assert sovereign.status_code == 200 and external.status_code == 200
    de, nl = sovereign.json()["sovgw"], external.json()["sovgw"]
    assert (de["endpoint"], de["tier"]) == ("sovgw-eu-de-llm@eu-central-1", "sovereign")
    assert (nl["endpoint"], nl["tier"]) == ("vendor-llm@eu-west-1", "external")
    vendor_saw = [m for region, name, m in stack.models.received if name == "vendor-llm"]
    assert vendor_saw[-1] == [{"role": "user", "content": "Answer [EMAIL_1] about opening hours."}]
    assert EMAIL in external.json()["choices"][0]["message"]["content"]
    de_record = _audit_record(stack, "eu-de", de["request_id"])
    nl_record = _audit_record(stack, "eu-nl", nl["request_id"])
    assert (de_record["region"], nl_record["region"]) == ("eu-central-1", "eu-west-1")
    assert EMAIL not in json.dumps([de_record, nl_record])


def test_streaming_from_the_sovereign_endpoint_restores_values(
    stack: LocalSovereignStack, proxy_url: str
) -> None:
    response = _post(proxy_url, "fabrikam-rh", f"Résume le dossier de {EMAIL}.", stream=True)
    assert response.status_code == 200
    assert response.headers["X-Sovgw-Endpoint"] == "sovgw-eu-fr-llm@eu-west-3"
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    text = "".join(
        json.loads(e[6:])["choices"][0]["delta"].get("content") or "" for e in events[:-1]
    )
    assert json.loads(text)["received"][0]["content"] == f"Résume le dossier de {EMAIL}."


def test_denial_and_failover_in_the_stack(stack: LocalSovereignStack, proxy_url: str) -> None:
    denied = _post(proxy_url, "northwind-faq", "Attorney-client privileged: our exposure?")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "policy_denied"
    stack.models.unavailable.add(("eu-central-1", "sovgw-eu-de-llm"))
    try:
        failed_over = _post(proxy_url, "contoso-legal", "Summarise our open HR cases.")
    finally:
        stack.models.unavailable.discard(("eu-central-1", "sovgw-eu-de-llm"))
    assert failed_over.json()["sovgw"]["endpoint"] == "sovgw-eu-de-llm-b@eu-central-1"
    assert all(region != "us-east-1" for region, _ in stack.models.invocations)
