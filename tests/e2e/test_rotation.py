"""Rotation of Salesforce credentials against LocalStack Secrets Manager and the simulator:
the four steps, idempotency, a rotation that fails halfway, and the break-glass hold."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from functions.rotate.handler import handle
from sovgw.adapters.salesforce.oauth import (
    CredentialRefused,
    SalesforceCredentials,
    http_session,
    request_token,
)
from sovgw.app.rotation import rotate_now, run_step
from sovgw.domain.budget import Lane
from sovgw.domain.rotation import STEPS, RotationFailed
from sovgw.local.stack import LocalSovereignStack

DE_ORG = "00D5E0000000001UAA"


def _secret(stack: LocalSovereignStack, name: str) -> tuple[dict[str, Any], str]:
    client = stack.session("eu-central-1").client("secretsmanager")
    found = client.get_secret_value(SecretId=name)
    return json.loads(found["SecretString"]), found["VersionId"]


def _logs_in(stack: LocalSovereignStack, value: dict[str, Any]) -> bool:
    assert stack.salesforce is not None
    try:
        request_token(
            SalesforceCredentials.model_validate(value),
            http_session(str(stack.salesforce.ca_bundle)),
        )
    except CredentialRefused:
        return False
    return True


def test_rotation_replaces_the_secret_without_a_gap(stack: LocalSovereignStack) -> None:
    deps = stack.deployments["eu-de"].deps
    name = f"sovgw/eu-de/salesforce/{DE_ORG}/b"
    before, before_version = _secret(stack, name)
    results = rotate_now(deps, name)
    assert [r.split(":")[0] for r in results] == list(STEPS)
    after, after_version = _secret(stack, name)
    assert after_version != before_version and after["client_id"] == before["client_id"]
    assert not _logs_in(stack, before) and _logs_in(stack, after)
    assert f"b@{before_version[:8]}" in deps.shared_store().refused_credentials(DE_ORG)
    records = deps.salesforce(DE_ORG, Lane.ROUTINE, None)  # a fresh instance reads the new version
    assert records.field_levels("Case")


def test_every_step_is_idempotent(stack: LocalSovereignStack) -> None:
    deps = stack.deployments["eu-de"].deps
    name = f"sovgw/eu-de/salesforce/{DE_ORG}/b"
    token = str(uuid.uuid4())
    for step in STEPS:
        first = run_step(deps, step, name, token)
        assert run_step(deps, step, name, token).startswith(step)
        assert first.startswith(step)
    current, version = _secret(stack, name)
    assert version == token and _logs_in(stack, current)


def test_a_rotation_failing_halfway_leaves_the_current_secret_working(
    stack: LocalSovereignStack,
) -> None:
    assert stack.salesforce is not None
    deps = stack.deployments["eu-de"].deps
    name = f"sovgw/eu-de/salesforce/{DE_ORG}/b"
    current, version = _secret(stack, name)
    token = str(uuid.uuid4())
    run_step(deps, "createSecret", name, token)
    run_step(deps, "setSecret", name, token)
    org = stack.salesforce.sim.org(DE_ORG)
    stack.salesforce.sim.oauth.delete_staged(org, current["client_id"])  # lost on Salesforce's side
    with pytest.raises(RotationFailed, match="does not log in"):
        run_step(deps, "testSecret", name, token)
    assert _secret(stack, name) == (current, version), "AWSCURRENT untouched"
    assert _logs_in(stack, current)
    rotate_now(deps, name)  # the next scheduled run starts afresh and succeeds
    assert _logs_in(stack, _secret(stack, name)[0])


def test_the_emergency_credential_waits_for_break_glass_to_end(stack: LocalSovereignStack) -> None:
    deps = stack.deployments["eu-de"].deps
    name = f"sovgw/eu-de/salesforce/{DE_ORG}/emergency"
    deps.shared_store().hold_grant(DE_ORG, "grant-1", int(time.time() * 1000) + 60_000)
    before = _secret(stack, name)
    try:
        with pytest.raises(RotationFailed, match="break-glass"):
            rotate_now(deps, name)
        assert _secret(stack, name) == before
    finally:
        deps.shared_store().end_grant(DE_ORG, "grant-1")
    rotate_now(deps, name)
    assert _secret(stack, name)[1] != before[1]


def test_the_lambda_handler_takes_secrets_managers_event(stack: LocalSovereignStack) -> None:
    deps = stack.deployments["eu-de"].deps
    arn = (
        stack.session("eu-central-1")
        .client("secretsmanager")
        .describe_secret(SecretId=f"sovgw/eu-de/salesforce/{DE_ORG}/b")["ARN"]
    )
    token = str(uuid.uuid4())
    for step in STEPS:
        assert (
            handle({"Step": step, "SecretId": arn, "ClientRequestToken": token}, deps)["step"]
            == step
        )
    with pytest.raises(Exception, match="not a rotation event"):
        handle({"Step": "dropTables", "SecretId": arn, "ClientRequestToken": token}, deps)
