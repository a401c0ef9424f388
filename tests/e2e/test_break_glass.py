"""Break-glass end to end in the local stack (LocalStack, the simulator, the shared store):
the lifecycle from Salesforce events, and each invariant of the issue."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from simple_salesforce.format import format_soql

from functions.break_glass.handler import service_for
from sovgw.domain.breakglass import BreakGlassError, BreakGlassRequest, GrantStatus
from sovgw.local.stack import LocalSovereignStack
from sovgw.sfsim.state import Fault
from tests.conftest import wait_until

ORG = "00D5E0000000001UAA"
ANNA, JONAS, INTEGRATION = "0055E000000000CQAQ", "0055E000000000DQAQ", "0055E000000000BQAQ"
RELAY = "aws.partner/salesforce.com/00D5E0000000001UAA/0YL5E0000000001WAA"


def _envelope(detail_type: str, payload: dict[str, Any], created_by: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": RELAY,
        "account": "000000000000",
        "time": "2026-11-22T10:00:00Z",
        "region": "eu-central-1",
        "resources": [],
        "detail": {
            "payload": {
                "CreatedById": created_by,
                "CreatedDate": "2026-11-22T10:00:00.000Z",
                **payload,
            },
            "schemaId": "bg",
            "id": str(uuid.uuid4()),
            "replayId": "1",
        },
    }


def _request_envelope(scope: str = "Case:read", minutes: int = 10) -> dict[str, Any]:
    return _envelope(
        "Break_Glass_Request__e",
        {
            "Target_User_Id__c": ANNA,
            "Reason__c": "Regulator inquiry: sealed investigation files needed today",
            "Case_Reference__c": "MATTER-2026-0042",
            "Scope__c": scope,
            "Duration_Minutes__c": minutes,
        },
        ANNA,
    )


def _approval(request_id: str, approver: str, decision: str = "Approved") -> dict[str, Any]:
    return _envelope(
        "Break_Glass_Approval__e",
        {"Request_Id__c": request_id, "Approver_Id__c": approver, "Decision__c": decision},
        approver,
    )


def _status(stack: LocalSovereignStack, request_id: str) -> str | None:
    record = service_for(stack.deployments["eu-de"].deps).store.get(ORG, request_id)
    return record["status"] if record else None


def _assignments(stack: LocalSovereignStack) -> list[dict[str, Any]]:
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    query = format_soql(
        "SELECT Id, ExpirationDate FROM PermissionSetAssignment WHERE AssigneeId = {}", ANNA
    )
    return list(sim.query(sim.org(ORG), query, "62.0")["records"])


def _dead_letter_reasons(stack: LocalSovereignStack) -> dict[str, str]:
    found = stack.deployments["eu-de"].dead_letters("break_glass")
    return {str(m["event"]["detail"]["id"]): str(m["reason"]) for m in found}


def test_lifecycle_from_salesforce_events_to_guaranteed_expiry(
    stack: LocalSovereignStack,
) -> None:
    assert stack.salesforce is not None
    deps = stack.deployments["eu-de"].deps
    secrets = stack.session("eu-central-1").client("secretsmanager")
    emergency = f"sovgw/eu-de/salesforce/{ORG}/emergency"
    emergency_before = secrets.get_secret_value(SecretId=emergency)["VersionId"]
    request = _request_envelope("Case:read, subscription:sovgw-eu-de-case-changes")
    request_id = request["detail"]["id"]
    stack.put_envelope(request)
    wait_until(lambda: _status(stack, request_id) == GrantStatus.REQUESTED)
    stack.put_envelope(_approval(request_id, JONAS))
    wait_until(lambda: _status(stack, request_id) == GrantStatus.GRANTED)

    (assignment,) = _assignments(stack)
    assert assignment["ExpirationDate"], "Salesforce itself knows when it ends"
    events = stack.session("eu-central-1").client("events")
    rule = events.describe_rule(Name="sovgw-eu-de-case-changes", EventBusName="sovgw-eu-de")
    assert rule["State"] == "ENABLED"
    scheduler = stack.session("eu-central-1").client("scheduler")
    schedules = scheduler.list_schedules(GroupName="sovgw-eu-de-break-glass")["Schedules"]
    assert any(request_id in s["Name"] for s in schedules), "one-time expiry schedule"
    assert deps.budget_store.active_grants(ORG) == 1
    grant = service_for(deps).store.get(ORG, request_id)
    assert grant is not None and grant["tokens"], "the emergency session is kept sealed"
    token = deps.vault.open(grant["tokens"][0], {"grant": request_id, "org_id": ORG})["token"]

    stack.advance_clock(10 * 60 + 1)  # Scheduler never fires locally: the sweeper must
    expired_at = stack.now_ms()
    wait_until(lambda: _status(stack, request_id) == GrantStatus.EXPIRED)
    assert stack.now_ms() - expired_at < 60_000, "no grant alive 60 s after its expiry"
    assert _assignments(stack) == []
    rule = events.describe_rule(Name="sovgw-eu-de-case-changes", EventBusName="sovgw-eu-de")
    assert rule["State"] == "DISABLED"
    assert stack.salesforce.sim.tokens[token].revoked
    assert secrets.get_secret_value(SecretId=emergency)["VersionId"] != emergency_before
    assert deps.budget_store.active_grants(ORG) == 0
    sim = stack.salesforce.sim
    (record,) = sim.query(
        sim.org(ORG),
        format_soql(
            "SELECT Status__c FROM Break_Glass_Grant__c WHERE Request_Id__c = {}", request_id
        ),
        "62.0",
    )["records"]
    assert record["Status__c"] == "Expired"
    steps = [json.loads(o["Body"].read())["purpose"] for o in _grant_audit(stack, request_id)]
    for step in ("break-glass:requested", "break-glass:approved", "break-glass:granted",
                 "break-glass:remove_assignments", "break-glass:revoke_tokens",
                 "break-glass:rotate_emergency_credential", "break-glass:expired"):  # fmt: skip
        assert step in steps


def _grant_audit(stack: LocalSovereignStack, request_id: str) -> list[Any]:
    from sovgw.domain.audit import Stage, audit_record_id  # noqa: PLC0415

    s3 = stack.session("eu-central-1").client("s3")
    found = []
    for step in ("requested", "approved", "granted", "remove_assignments", "end_aws_sessions",
                 "disable_subscriptions", "revoke_tokens", "close_record",
                 "rotate_emergency_credential", "expired", "revoked"):  # fmt: skip
        key = f"records/eu-de/{ORG}/{audit_record_id(f'break-glass/{request_id}/{step}', Stage.BREAK_GLASS)}.json"
        try:
            found.append(s3.get_object(Bucket="sovgw-audit-eu-de", Key=key))
        except s3.exceptions.NoSuchKey:
            continue
    return found


@pytest.mark.parametrize(
    ("approver", "reason"),
    [(ANNA, "someone other than requester"), (INTEGRATION, "approver role")],
)
def test_no_grant_without_an_approval_by_someone_else_with_the_role(
    stack: LocalSovereignStack, approver: str, reason: str
) -> None:
    request = _request_envelope()
    request_id = request["detail"]["id"]
    stack.put_envelope(request)
    wait_until(lambda: _status(stack, request_id) == GrantStatus.REQUESTED)
    approval = _approval(request_id, approver)
    stack.put_envelope(approval)
    dead = wait_until(lambda: _dead_letter_reasons(stack).get(approval["detail"]["id"]))
    assert reason in dead
    assert _status(stack, request_id) == GrantStatus.REQUESTED
    assert _assignments(stack) == []


def test_duplicated_and_replayed_events_create_one_grant(stack: LocalSovereignStack) -> None:
    request = _request_envelope()
    request_id = request["detail"]["id"]
    for _ in range(3):
        stack.put_envelope(request)
    wait_until(lambda: _status(stack, request_id) == GrantStatus.REQUESTED)
    approval = _approval(request_id, JONAS)
    for _ in range(3):
        stack.put_envelope(approval)
    wait_until(lambda: _status(stack, request_id) == GrantStatus.GRANTED)
    time.sleep(2)
    assert len(_assignments(stack)) == 1
    service_for(stack.deployments["eu-de"].deps).revoke(ORG, request_id, by=JONAS)
    assert _assignments(stack) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Duration_Minutes__c": 90}, "maximum of 3600 s"),
        ({"Target_User_Id__c": "0055E00000000ZZQAY"}, "does not exist"),
        ({"Scope__c": "Everything:all"}, "is not <Object>"),
        ({"Scope__c": "Opportunity:read"}, "no permission set"),
        ({"Reason__c": "short"}, "Reason__c"),
        ({"Duration_Minutes__c": -5}, "Duration_Minutes__c"),
    ],
)
def test_bad_requests_get_a_clear_error_and_nothing_is_stored(
    stack: LocalSovereignStack, change: dict[str, Any], message: str
) -> None:
    request = _request_envelope()
    request["detail"]["payload"].update(change)
    stack.put_envelope(request)
    reason = wait_until(lambda: _dead_letter_reasons(stack).get(request["detail"]["id"]))
    assert message in reason
    assert _status(stack, request["detail"]["id"]) is None


def _requested(stack: LocalSovereignStack, minutes: int = 10, scope: str = "Case:read") -> str:
    service = service_for(stack.deployments["eu-de"].deps)
    request_id = str(uuid.uuid4())
    service.request(
        BreakGlassRequest(
            request_id=request_id,
            org_id=ORG,
            jurisdiction="eu-de",
            requested_by=ANNA,
            target_user=ANNA,
            reason="Works council dispute: HR file needed for a court deadline",
            case_reference="HR-2026-17",
            scope=scope,
            duration_s=minutes * 60,
        )
    )
    return request_id


def _granted(stack: LocalSovereignStack, minutes: int = 10, scope: str = "Case:read") -> str:
    request_id = _requested(stack, minutes, scope)
    service_for(stack.deployments["eu-de"].deps).approve(ORG, request_id, JONAS)
    return request_id


def test_an_expired_grant_cannot_be_extended_and_revoking_early_works(
    stack: LocalSovereignStack,
) -> None:
    service = service_for(stack.deployments["eu-de"].deps)
    revoked = _granted(stack)
    assert service.revoke(ORG, revoked, by=JONAS)["status"] == GrantStatus.REVOKED
    assert _assignments(stack) == []
    with pytest.raises(BreakGlassError, match="needs a new request"):
        service.approve(ORG, revoked, JONAS)
    expiring = _granted(stack, minutes=1)
    stack.advance_clock(61)
    wait_until(lambda: _status(stack, expiring) == GrantStatus.EXPIRED)
    with pytest.raises(BreakGlassError, match="needs a new request"):
        service.approve(ORG, expiring, JONAS)


def test_expiry_that_fails_once_is_finished_within_60_seconds(stack: LocalSovereignStack) -> None:
    assert stack.salesforce is not None
    request_id = _granted(stack, minutes=1)
    org = stack.salesforce.sim.org(ORG)
    org.faults.append(
        Fault("DELETE", "PermissionSetAssignment", 503, "SERVER_UNAVAILABLE", "down", 3)
    )
    stack.advance_clock(61)
    due_at = stack.now_ms()
    wait_until(lambda: _status(stack, request_id) == GrantStatus.EXPIRED, timeout=60)
    assert stack.now_ms() - due_at < 60_000
    assert _assignments(stack) == []
    assert not any(f.remaining for f in org.faults), "the failures really happened"


def test_aws_scope_opens_the_role_to_the_grant_only_until_it_ends(
    stack: LocalSovereignStack,
) -> None:
    service = service_for(stack.deployments["eu-de"].deps)
    request_id = _granted(stack, minutes=5, scope="aws:sovgw-eu-de-break-glass")
    iam = stack.session("eu-central-1").client("iam")
    attached = iam.get_role_policy(
        RoleName="sovgw-eu-de-break-glass", PolicyName=f"sovgw-grant-{request_id}"
    )["PolicyDocument"]
    text = json.dumps(attached if isinstance(attached, dict) else json.loads(attached))
    assert f'"aws:PrincipalTag/sovgw-grant": "{request_id}"' in text
    assert "aws:CurrentTime" in text, "the permissions end at the grant's expiry"
    service.revoke(ORG, request_id, by=JONAS)
    names = iam.list_role_policies(RoleName="sovgw-eu-de-break-glass")["PolicyNames"]
    assert f"sovgw-grant-{request_id}" not in names
    revoke = iam.get_role_policy(
        RoleName="sovgw-eu-de-break-glass", PolicyName="sovgw-revoke-older-sessions"
    )["PolicyDocument"]
    assert "aws:TokenIssueTime" in json.dumps(revoke)


def test_cli_request_approve_show_list_revoke(
    stack: LocalSovereignStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sovgw.cli import main  # noqa: PLC0415

    assert stack.valkey is not None and stack.salesforce is not None
    monkeypatch.setenv("SOVGW_BUDGET_STORE_URL", stack.valkey.url)
    monkeypatch.setenv("SOVGW_SALESFORCE_CA_BUNDLE", str(stack.salesforce.ca_bundle))
    request_id = f"cli-{uuid.uuid4()}"
    base = ["--org", ORG]
    assert main(["break-glass", "request", *base, "--requested-by", ANNA, "--reason",
                 "Court deadline tomorrow: dismissal file", "--case", "HR-2026-99", "--scope",
                 "Case:read", "--duration", "30", "--request-id", request_id]) == 0  # fmt: skip
    assert main(["break-glass", "approve", request_id, *base, "--approver", ANNA]) == 1
    assert "someone other" in capsys.readouterr().err
    assert main(["break-glass", "approve", request_id, *base, "--approver", JONAS]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "GRANTED"
    assert main(["break-glass", "show", request_id, *base]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["approver"] == JONAS and "tokens" not in shown
    assert main(["break-glass", "list", *base]) == 0
    assert request_id in capsys.readouterr().out
    assert main(["break-glass", "revoke", request_id, *base, "--by", JONAS]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "REVOKED"
    assert main(["break-glass", "request", *base, "--requested-by", ANNA, "--reason", "x",
                 "--case", "HR", "--scope", "Case:read", "--duration", "30"]) == 1  # fmt: skip
    assert "reason" in capsys.readouterr().err


def test_requests_expire_unapproved_and_rejections_need_the_role(
    stack: LocalSovereignStack,
) -> None:
    service = service_for(stack.deployments["eu-de"].deps)
    stale = _requested(stack)
    stack.advance_clock(16 * 60)  # the approval timeout is 15 minutes
    with pytest.raises(BreakGlassError, match="expired unapproved"):
        service.approve(ORG, stale, JONAS)
    assert _status(stack, stale) == GrantStatus.REQUEST_EXPIRED
    request = _request_envelope()
    request_id = request["detail"]["id"]
    stack.put_envelope(request)
    wait_until(lambda: _status(stack, request_id) == GrantStatus.REQUESTED)
    stranger = _approval(request_id, INTEGRATION, decision="Rejected")
    stack.put_envelope(stranger)
    assert "may not reject" in wait_until(
        lambda: _dead_letter_reasons(stack).get(stranger["detail"]["id"])
    )
    stack.put_envelope(_approval(request_id, JONAS, decision="Rejected"))
    wait_until(lambda: _status(stack, request_id) == GrantStatus.DENIED)
    with pytest.raises(BreakGlassError, match="needs a new request"):
        service.approve(ORG, request_id, JONAS)
