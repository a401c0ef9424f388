"""Break-glass end to end in the local stack (LocalStack, the simulator, the shared store):
the lifecycle from Salesforce events, and each invariant of the issue."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from simple_salesforce.format import format_soql

from sovgw.adapters.salesforce.oauth import http_session
from sovgw.app.break_glass import break_glass_service
from sovgw.domain.break_glass import (
    CLOSING_STEPS,
    ENDED,
    OPENING_STEPS,
    BreakGlassError,
    BreakGlassRequest,
    Grant,
    GrantBusy,
    GrantStatus,
)
from sovgw.local.stack import LocalSovereignStack
from sovgw.sfsim.state import Fault, IssuedToken
from sovgw.wiring import break_glass_role_name, break_glass_trust_policy
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


def _grant(stack: LocalSovereignStack, request_id: str) -> Grant | None:
    return break_glass_service(stack.deployments["eu-de"].deps).store.get(ORG, request_id)


def _status(stack: LocalSovereignStack, request_id: str) -> str | None:
    grant = _grant(stack, request_id)
    return grant.status if grant else None


def _emergency_client_id(stack: LocalSovereignStack) -> str:
    secrets = stack.session("eu-central-1").client("secretsmanager")
    secret = secrets.get_secret_value(SecretId=f"sovgw/eu-de/salesforce/{ORG}/emergency")
    return str(json.loads(secret["SecretString"])["client_id"])


def _tokens_since(stack: LocalSovereignStack, client_id: str, since: datetime) -> list[IssuedToken]:
    """Access tokens the simulator issued to ``client_id`` from ``since`` (its own record)."""
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    with sim.lock:
        return [
            t
            for t in sim.tokens.values()
            if t.client_id == client_id and t.kind == "access" and t.issued_at >= since
        ]


def _refused_by_salesforce(stack: LocalSovereignStack, token: str) -> bool:
    """Present ``token`` to the simulator's REST API, as any client would."""
    assert stack.salesforce is not None
    answer = http_session(str(stack.salesforce.ca_bundle)).get(
        f"{stack.salesforce.url}/services/data/v62.0/limits",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return answer.status_code == 401 and "INVALID_SESSION_ID" in answer.text


def _grant_record(stack: LocalSovereignStack, request_id: str) -> dict[str, Any]:
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    (record,) = sim.rest.query(
        sim.org(ORG),
        format_soql(
            "SELECT Status__c, Status_Reason__c FROM Break_Glass_Grant__c WHERE Request_Id__c = {}",
            request_id,
        ),
        "62.0",
    )["records"]
    return dict(record)


def _assignments(stack: LocalSovereignStack) -> list[dict[str, Any]]:
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    query = format_soql(
        "SELECT Id, ExpirationDate FROM PermissionSetAssignment WHERE AssigneeId = {}", ANNA
    )
    return list(sim.rest.query(sim.org(ORG), query, "62.0")["records"])


def _finished_deliveries(stack: LocalSovereignStack) -> set[str]:
    """EventBridge event ids the break-glass function has finished with (done or dead-lettered)."""
    return {
        d.event_id
        for d in list(stack.deployments["eu-de"].deliveries)
        if d.function == "break_glass" and d.status != "retrying"
    }


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
    emergency_client = _emergency_client_id(stack)
    approved_at = stack.salesforce.sim.now()
    stack.put_envelope(_approval(request_id, JONAS))
    wait_until(lambda: _status(stack, request_id) == GrantStatus.GRANTED)

    (assignment,) = _assignments(stack)  # GRANTED means every access is in place already
    assert assignment["ExpirationDate"], "Salesforce itself knows when it ends"
    events = stack.session("eu-central-1").client("events")
    rule = events.describe_rule(Name="sovgw-eu-de-case-changes", EventBusName="sovgw-eu-de")
    assert rule["State"] == "ENABLED"
    scheduler = stack.session("eu-central-1").client("scheduler")
    schedules = scheduler.list_schedules(GroupName="sovgw-eu-de-break-glass")["Schedules"]
    assert any(request_id in s["Name"] for s in schedules), "one-time expiry schedule"
    assert deps.shared_store().active_grants(ORG) == 1
    grant = _grant(stack, request_id)
    assert grant is not None and grant.pending_step is None
    assert grant.opened == list(OPENING_STEPS)
    assert _grant_record(stack, request_id)["Status__c"] == "Granted"
    minted = _tokens_since(stack, emergency_client, approved_at)
    assert 1 <= len(minted) <= 2, "the grant's calls share one session"
    assert not any(t.revoked for t in minted)

    stack.advance_clock(10 * 60 + 1)  # Scheduler never fires locally: the sweeper must
    expired_at = stack.now_ms()
    wait_until(lambda: _status(stack, request_id) == GrantStatus.EXPIRED)
    assert stack.now_ms() - expired_at < 60_000, "no grant alive 60 s after its expiry"
    assert _assignments(stack) == []
    rule = events.describe_rule(Name="sovgw-eu-de-case-changes", EventBusName="sovgw-eu-de")
    assert rule["State"] == "DISABLED"
    minted = _tokens_since(stack, emergency_client, approved_at)
    for token in minted:  # the grant's, its expiry's own, and the rotation's login check
        assert _refused_by_salesforce(stack, token.value)
    assert secrets.get_secret_value(SecretId=emergency)["VersionId"] != emergency_before
    assert deps.shared_store().active_grants(ORG) == 0
    assert _grant_record(stack, request_id)["Status__c"] == "Expired"
    grant = _grant(stack, request_id)
    assert grant is not None and grant.closed == list(CLOSING_STEPS)
    assert grant.sessions_revoked, "show reports the sessions its end revoked"
    steps = [json.loads(o["Body"].read())["purpose"] for o in _grant_audit(stack, request_id)]
    for step in ("break-glass:requested", "break-glass:approved", "break-glass:granted",
                 "break-glass:remove_assignments", "break-glass:revoke_tokens",
                 "break-glass:rotate_emergency_credential", "break-glass:expired"):  # fmt: skip
        assert step in steps


def _grant_audit(stack: LocalSovereignStack, request_id: str) -> list[Any]:
    from sovgw.domain.audit import Stage, audit_record_id  # noqa: PLC0415

    s3 = stack.session("eu-central-1").client("s3")
    found = []
    for step in ("requested", "approved", "granted", *OPENING_STEPS, *CLOSING_STEPS, "expired",
                 "revoked", "rolling_back", "rolled_back"):  # fmt: skip
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
    deliveries = {stack.put_envelope(approval) for _ in range(3)}
    wait_until(lambda: _status(stack, request_id) == GrantStatus.GRANTED)
    wait_until(lambda: deliveries <= _finished_deliveries(stack), "every copy was handled")
    assert len(_assignments(stack)) == 1
    break_glass_service(stack.deployments["eu-de"].deps).revoke(ORG, request_id, by=JONAS)
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
    service = break_glass_service(stack.deployments["eu-de"].deps)
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
    break_glass_service(stack.deployments["eu-de"].deps).approve(ORG, request_id, JONAS)
    return request_id


def test_an_expired_grant_cannot_be_extended_and_revoking_early_works(
    stack: LocalSovereignStack,
) -> None:
    assert stack.salesforce is not None
    service = break_glass_service(stack.deployments["eu-de"].deps)
    emergency_client, since = _emergency_client_id(stack), stack.salesforce.sim.now()
    revoked = _granted(stack)
    minted = _tokens_since(stack, emergency_client, since)
    assert minted and not any(_refused_by_salesforce(stack, t.value) for t in minted)
    assert service.revoke(ORG, revoked, by=JONAS).status == GrantStatus.REVOKED
    assert _assignments(stack) == []
    for token in _tokens_since(stack, emergency_client, since):
        assert _refused_by_salesforce(stack, token.value), "every session of the grant ends"
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
    service = break_glass_service(stack.deployments["eu-de"].deps)
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
    assert shown["approver"] == JONAS and shown["opened"] == list(OPENING_STEPS)
    assert shown["status"] == "GRANTED" and shown["pending_step"] is None
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
    service = break_glass_service(stack.deployments["eu-de"].deps)
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


@pytest.fixture(autouse=True)
def no_grant_outlives_its_test(stack: LocalSovereignStack) -> Iterator[None]:
    """Each test starts with no active grant of the org, whatever the one before it left."""
    yield
    service = break_glass_service(stack.deployments["eu-de"].deps)

    def all_ended() -> bool:
        for grant in service.store.list(ORG):
            if grant.status in {GrantStatus.REQUESTED, GrantStatus.GRANTING,
                                GrantStatus.GRANTED, GrantStatus.EXPIRING}:  # fmt: skip
                try:
                    service.revoke(ORG, grant.request_id, by=JONAS)
                except GrantBusy:
                    return False
        return True

    wait_until(all_ended, "every grant of the test ended", timeout=60)


def _opened_grant(stack: LocalSovereignStack, request_id: str) -> Grant | None:
    grant = _grant(stack, request_id)
    return grant if grant and grant.status in {GrantStatus.GRANTED, *ENDED} else None


def _failing(stack: LocalSovereignStack, request_id: str, step: str) -> Grant | None:
    grant = _grant(stack, request_id)
    return grant if grant and grant.last_error and grant.last_error.startswith(step) else None


def test_a_salesforce_503_while_opening_is_retried_and_access_is_complete_in_the_bound(
    stack: LocalSovereignStack,
) -> None:
    assert stack.salesforce is not None
    request_id = _requested(stack)
    fault = Fault("POST", "PermissionSetAssignment", 503, "SERVER_UNAVAILABLE", "down", 1)
    stack.salesforce.sim.org(ORG).faults.append(fault)
    stack.put_envelope(_approval(request_id, JONAS))
    grant = wait_until(lambda: _opened_grant(stack, request_id), "opened or ended", timeout=60)
    assert grant.status == GrantStatus.GRANTED
    assert fault.remaining == 0, "the failure really happened"
    assert grant.granted_at is not None and grant.approved_at is not None
    assert grant.granted_at - grant.approved_at < 60_000
    (assignment,) = _assignments(stack)
    assert grant.assignments == [assignment["Id"]]


def test_a_kms_outage_while_opening_is_waited_out_and_access_is_complete_in_the_bound(
    stack: LocalSovereignStack,
) -> None:
    kms = stack.session("eu-central-1").client("kms")
    alias = stack.deployments["eu-de"].jurisdiction.kms_alias
    key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    request_id = _requested(stack)
    assert stack.salesforce is not None
    emergency_client, since = _emergency_client_id(stack), stack.salesforce.sim.now()
    kms.disable_key(KeyId=key_id)  # the grant's Salesforce session cannot be sealed
    try:
        stack.put_envelope(_approval(request_id, JONAS))
        failing = wait_until(lambda: _failing(stack, request_id, "assign_permission_sets"))
        assert "KMS" in str(failing.last_error)
        assert failing.status == GrantStatus.GRANTING, "never GRANTED without its access"
        assert failing.pending_step == "assign_permission_sets"
        assert _assignments(stack) == []
        unsealed = _tokens_since(stack, emergency_client, since)
    finally:
        kms.enable_key(KeyId=key_id)
    assert unsealed, "a session was minted and could not be sealed"
    sessions = stack.deployments["eu-de"].deps.sessions
    assert sessions is not None
    recorded = {s["access_token"] for s in sessions.minted(f"{ORG[:15]}:grant:{request_id}")}
    for token in unsealed:  # unrecorded, it could never be revoked with the grant: revoked now
        assert token.value in recorded or _refused_by_salesforce(stack, token.value)
    assert any(t.value not in recorded for t in unsealed), "the outage discarded sessions"
    grant = wait_until(lambda: _opened_grant(stack, request_id), "opened or ended", timeout=60)
    assert grant.status == GrantStatus.GRANTED
    assert grant.granted_at is not None and grant.approved_at is not None
    assert grant.granted_at - grant.approved_at < 60_000
    assert len(_assignments(stack)) == 1


def test_a_scheduler_error_while_opening_is_retried_and_access_is_complete_in_the_bound(
    stack: LocalSovereignStack,
) -> None:
    scheduler = stack.session("eu-central-1").client("scheduler")
    request_id = _requested(stack)
    scheduler.delete_schedule_group(Name="sovgw-eu-de-break-glass")
    try:
        stack.put_envelope(_approval(request_id, JONAS))
        failing = wait_until(lambda: _failing(stack, request_id, "schedule_expiry"))
        assert "scheduler" in str(failing.last_error)
        assert failing.status == GrantStatus.GRANTING and _assignments(stack) == []
    finally:
        scheduler.create_schedule_group(Name="sovgw-eu-de-break-glass")
    grant = wait_until(lambda: _opened_grant(stack, request_id), "opened or ended", timeout=60)
    assert grant.status == GrantStatus.GRANTED
    assert grant.granted_at is not None and grant.approved_at is not None
    assert grant.granted_at - grant.approved_at < 60_000
    schedules = scheduler.list_schedules(GroupName="sovgw-eu-de-break-glass")["Schedules"]
    assert any(request_id in s["Name"] for s in schedules)
    assert len(_assignments(stack)) == 1


def test_a_step_refused_for_good_rolls_the_grant_back_at_once_and_tells_why(
    stack: LocalSovereignStack,
) -> None:
    events = stack.session("eu-central-1").client("events")
    request_id = _requested(
        stack,
        scope="Case:read, aws:sovgw-eu-de-no-such-role, subscription:sovgw-eu-de-case-changes",
    )
    approval = _approval(request_id, JONAS)
    stack.put_envelope(approval)
    reason = wait_until(lambda: _dead_letter_reasons(stack).get(approval["detail"]["id"]))
    assert "rolled back" in reason and "open_aws_roles" in reason
    grant = _grant(stack, request_id)
    assert grant is not None and grant.status == GrantStatus.ROLLED_BACK
    assert grant.opened == ["schedule_expiry", "assign_permission_sets"]
    assert grant.closed == list(CLOSING_STEPS)
    assert grant.failure is not None and grant.failure.startswith("open_aws_roles")
    assert _assignments(stack) == [], "the assignment it made is removed again"
    rule = events.describe_rule(Name="sovgw-eu-de-case-changes", EventBusName="sovgw-eu-de")
    assert rule["State"] == "DISABLED"
    record = _grant_record(stack, request_id)
    assert record["Status__c"] == "Rolled Back"
    assert "open_aws_roles" in record["Status_Reason__c"]
    audited = [json.loads(o["Body"].read()) for o in _grant_audit(stack, request_id)]
    rolled_back = next(a for a in audited if a["purpose"] == "break-glass:rolled_back")
    assert rolled_back["outcome"] == "failed" and "open_aws_roles" in rolled_back["reason"]


def test_opening_that_cannot_finish_within_the_bound_is_rolled_back_completely(
    stack: LocalSovereignStack,
) -> None:
    assert stack.salesforce is not None
    request_id = _requested(stack, scope="Case:read, Case:edit")
    emergency_client = _emergency_client_id(stack)
    since = stack.salesforce.sim.now()
    fault = Fault(  # the first assignment is made, the second never
        "POST", "PermissionSetAssignment", 503, "SERVER_UNAVAILABLE", "down", 10**6, passes=1
    )
    stack.salesforce.sim.org(ORG).faults.append(fault)
    try:
        stack.put_envelope(_approval(request_id, JONAS))
        failing = wait_until(lambda: _failing(stack, request_id, "assign_permission_sets"))
        assert failing.status == GrantStatus.GRANTING and failing.assignments == []
        assert len(_assignments(stack)) == 1, "made before the failure, not recorded yet"
        stack.advance_clock(61)  # past the 60 s bound for opening
        grant = wait_until(lambda: _opened_grant(stack, request_id), "ended", timeout=60)
    finally:
        fault.remaining = 0
    assert grant.status == GrantStatus.ROLLED_BACK
    assert grant.opened == ["schedule_expiry"] and grant.closed == list(CLOSING_STEPS)
    assert _assignments(stack) == [], "the assignment of the step cut short is removed too"
    scheduler = stack.session("eu-central-1").client("scheduler")
    schedules = scheduler.list_schedules(GroupName="sovgw-eu-de-break-glass")["Schedules"]
    assert not any(request_id in s["Name"] for s in schedules), "its expiry schedule is gone"
    assert "assign_permission_sets" in _grant_record(stack, request_id)["Status_Reason__c"]
    minted = _tokens_since(stack, emergency_client, since)
    assert minted, "opening used the emergency credential"
    assert all(_refused_by_salesforce(stack, token.value) for token in minted)
    assert stack.deployments["eu-de"].deps.shared_store().active_grants(ORG) == 0


def test_the_local_stack_creates_the_break_glass_role_pulumi_declares(
    stack: LocalSovereignStack,
) -> None:
    """One trust policy (``sovgw.wiring``): what LocalStack holds is what ``pulumi up`` makes."""
    session = stack.session("eu-central-1")
    account = session.client("sts").get_caller_identity()["Account"]
    role = session.client("iam").get_role(RoleName=break_glass_role_name("eu-de"))["Role"]
    assert role["AssumeRolePolicyDocument"] == break_glass_trust_policy(account)
