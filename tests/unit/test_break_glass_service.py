"""Break-glass lifecycle through in-memory ports: every state, every opening and closing step,
retries, rollback, the sweeper and the lease, in milliseconds (the e2e suite runs the same
service on LocalStack, redis-server and the simulator)."""

from __future__ import annotations

import pytest

from sovgw.domain.break_glass import (
    CLOSING_STEPS,
    OPENING_STEPS,
    BreakGlassError,
    BreakGlassPolicy,
    BreakGlassRequest,
    BreakGlassService,
    GrantBusy,
    GrantRolledBack,
    GrantStatus,
    RequestNotYetKnown,
)
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from tests.fakes import Clock, FakeAws, FakeOrg, MemoryAudit, MemoryGrantStore

ORG = "00D5E0000000001UAA"
ANNA, JONAS, MIA = "0055E000000000AQAQ", "0055E000000000BQAQ", "0055E000000000CQAQ"
SCOPE = "Case:read, aws:sovgw-eu-de-break-glass, subscription:case-changes"


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.store = MemoryGrantStore()
        self.org = FakeOrg(
            users={ANNA, JONAS, MIA},
            permission_sets={"Break_Glass_Case_Read": "0PS000000000001"},
            approvers={JONAS},
        )
        self.aws = FakeAws()
        self.audit = MemoryAudit()
        self.rotated: list[str] = []
        self.service = BreakGlassService(
            jurisdiction="eu-de",
            policy=BreakGlassPolicy(max_duration_s=3600, approval_timeout_s=900),
            store=self.store,
            salesforce_for=lambda org_id, grant_id: self.org,
            aws=self.aws,
            audit=self.audit,
            clock_ms=self.clock,
            rotate_emergency=self.rotated.append,
            sleep=self.clock.sleep,
        )

    def request(
        self, request_id: str = "req-00000001", scope: str = SCOPE, minutes: int = 30
    ) -> None:
        self.service.request(
            BreakGlassRequest(
                request_id=request_id,
                org_id=ORG,
                jurisdiction="eu-de",
                requested_by=ANNA,
                target_user=ANNA,
                reason="Regulator deadline on a whistleblower case",
                case_reference="CASE-4711",
                scope=scope,
                duration_s=minutes * 60,
            )
        )

    def status(self, request_id: str = "req-00000001") -> GrantStatus:
        grant = self.store.get(ORG, request_id)
        assert grant is not None
        return grant.status


@pytest.fixture
def world() -> World:
    return World()


def test_a_grant_opens_every_access_and_closes_every_one_at_expiry(world: World) -> None:
    world.request()
    assert world.status() is GrantStatus.REQUESTED
    grant = world.service.approve(ORG, "req-00000001", JONAS)
    assert grant.status is GrantStatus.GRANTED and grant.opened == list(OPENING_STEPS)
    assert len(world.org.assignments) == 1
    assert world.aws.open_roles and world.aws.enabled == {"case-changes"}
    assert world.org.records["req-00000001"].status == "Granted"
    assert world.store.holds[(ORG, "req-00000001")] == grant.expires_at

    world.clock.now_ms = int(grant.expires_at or 0) + 1
    assert world.service.sweep() == [f"{ORG}/req-00000001"]
    ended = world.store.get(ORG, "req-00000001")
    assert ended is not None and ended.status is GrantStatus.EXPIRED
    assert ended.closed == list(CLOSING_STEPS) and ended.sessions_revoked == 1
    assert not world.org.assignments and not world.aws.open_roles and not world.aws.enabled
    assert world.org.records["req-00000001"].status == "Expired"
    assert world.rotated == [ORG] and world.org.sessions_ended
    assert (ORG, "req-00000001") not in world.store.holds | world.store.due_at
    assert {f"break-glass:{step}" for step in (*OPENING_STEPS, *CLOSING_STEPS)} <= set(
        world.audit.purposes()
    )


def test_a_revoked_grant_closes_at_once(world: World) -> None:
    world.request()
    world.service.approve(ORG, "req-00000001", JONAS)
    assert world.service.revoke(ORG, "req-00000001", by=JONAS).status is GrantStatus.REVOKED
    assert world.org.records["req-00000001"].status == "Revoked"
    assert not world.org.assignments


def test_the_schedule_before_expiry_changes_nothing(world: World) -> None:
    world.request()
    world.service.approve(ORG, "req-00000001", JONAS)
    assert world.service.expire(ORG, "req-00000001").status is GrantStatus.GRANTED


@pytest.mark.parametrize(
    ("approver", "message"),
    [(ANNA, "someone other than requester"), (MIA, "does not hold the break-glass approver")],
)
def test_only_another_person_with_the_role_approves(
    world: World, approver: str, message: str
) -> None:
    world.request()
    with pytest.raises(BreakGlassError, match=message):
        world.service.approve(ORG, "req-00000001", approver)
    assert world.status() is GrantStatus.REQUESTED and not world.org.assignments


def test_a_request_waits_for_approval_only_so_long(world: World) -> None:
    world.request()
    world.clock.now_ms += 901_000
    with pytest.raises(BreakGlassError, match="expired unapproved"):
        world.service.approve(ORG, "req-00000001", JONAS)
    assert world.status() is GrantStatus.REQUEST_EXPIRED


def test_denied_by_an_approver_or_withdrawn_by_the_requester(world: World) -> None:
    world.request("req-00000001")
    world.request("req-00000002")
    assert world.service.deny(ORG, "req-00000001", by=JONAS).status is GrantStatus.DENIED
    assert world.service.revoke(ORG, "req-00000002", by=ANNA).status is GrantStatus.DENIED
    world.request("req-00000003")
    with pytest.raises(BreakGlassError, match="may not reject"):
        world.service.deny(ORG, "req-00000003", by=MIA)


@pytest.mark.parametrize(
    ("scope", "error"),
    [
        ("Contract:edit", "no permission set Break_Glass_Contract_Edit"),
        ("everything", "is not <Object>:read|edit"),
    ],
)
def test_a_scope_the_org_cannot_grant_is_refused_at_request(
    world: World, scope: str, error: str
) -> None:
    with pytest.raises((BreakGlassError, RejectedInput), match=error):
        world.request(scope=scope)
    assert world.store.get(ORG, "req-00000001") is None


def test_a_replayed_request_or_approval_changes_nothing(world: World) -> None:
    world.request()
    world.request()
    first = world.service.approve(ORG, "req-00000001", JONAS)
    again = world.service.approve(ORG, "req-00000001", JONAS)
    assert again.status is GrantStatus.GRANTED and again.granted_at == first.granted_at
    assert len(world.org.assignments) == 1


def test_an_approval_before_its_request_is_retried(world: World) -> None:
    with pytest.raises(RequestNotYetKnown):
        world.service.approve(ORG, "req-00000001", JONAS)


def test_a_transient_failure_is_retried_in_place(world: World) -> None:
    world.request()
    world.org.failures.plan("assign", UpstreamUnavailable("503"), UpstreamUnavailable("503"))
    assert world.service.approve(ORG, "req-00000001", JONAS).status is GrantStatus.GRANTED
    assert world.clock.slept == [0.5, 1.0]


def test_a_step_refused_for_good_rolls_back_what_was_opened(world: World) -> None:
    world.request()
    world.aws.failures.plan("open_role", RejectedInput("NoSuchEntity"))
    with pytest.raises(GrantRolledBack, match="open_aws_roles"):
        world.service.approve(ORG, "req-00000001", JONAS)
    grant = world.store.get(ORG, "req-00000001")
    assert grant is not None and grant.status is GrantStatus.ROLLED_BACK
    assert not world.org.assignments and not world.aws.schedules
    assert "open_aws_roles" in (world.org.records["req-00000001"].status_reason or "")


def test_opening_past_its_bound_rolls_back(world: World) -> None:
    world.request()
    world.aws.failures.plan("open_role", *[UpstreamUnavailable("throttled")] * 100)
    with pytest.raises(UpstreamUnavailable, match="throttled"):  # the approval is retried
        world.service.approve(ORG, "req-00000001", JONAS)
    stuck = world.store.get(ORG, "req-00000001")
    assert stuck is not None and stuck.status is GrantStatus.GRANTING
    assert stuck.last_error == "open_aws_roles: throttled" and sum(world.clock.slept) < 60
    world.clock.now_ms = int(stuck.open_by or 0) + 1
    world.service.sweep()
    assert world.status() is GrantStatus.ROLLED_BACK
    assert not world.org.assignments and not world.aws.schedules


def test_the_sweeper_finishes_an_opening_the_approval_left(world: World) -> None:
    world.request()
    world.service.approve(ORG, "req-00000001", JONAS)
    world.store.update(ORG, "req-00000001", status=GrantStatus.GRANTING, opened=[])
    world.store.mark_due(ORG, "req-00000001", world.clock())
    world.service.sweep()
    assert world.status() is GrantStatus.GRANTED
    assert len(world.org.assignments) == 1  # the earlier assignment was found, not repeated


def test_a_closing_step_that_fails_resumes_where_it_stopped(world: World) -> None:
    world.request()
    grant = world.service.approve(ORG, "req-00000001", JONAS)
    world.org.failures.plan("upsert_grant_record", UpstreamUnavailable("503"))
    world.clock.now_ms = int(grant.expires_at or 0) + 1
    assert world.service.sweep() == []
    stuck = world.store.get(ORG, "req-00000001")
    assert stuck is not None and stuck.status is GrantStatus.EXPIRING
    assert stuck.closed == ["remove_assignments", "end_aws_sessions", "disable_subscriptions"]
    world.service.sweep()
    assert world.status() is GrantStatus.EXPIRED


def test_one_worker_drives_a_grant_at_a_time(world: World) -> None:
    world.request()
    world.store.leased.add((ORG, "req-00000001"))
    with pytest.raises(GrantBusy):
        world.service.approve(ORG, "req-00000001", JONAS)


def test_the_longest_grant_is_the_jurisdictions(world: World) -> None:
    with pytest.raises(BreakGlassError, match="over the jurisdiction's maximum"):
        world.request(minutes=120)


def test_the_sweeper_leaves_a_fresh_approval_to_its_worker_then_takes_over(world: World) -> None:
    """Right after an approval the approving worker drives the opening; the sweeper steps in
    only after the grace, so the approval's own retries end with why, not with GrantBusy."""
    world.request()
    world.store.leased.add((ORG, "req-00000001"))  # the approving worker loses the race
    with pytest.raises(GrantBusy):
        world.service.approve(ORG, "req-00000001", JONAS)
    world.store.leased.clear()
    assert world.service.sweep() == [], "not yet: the approval's worker may still be opening"
    world.clock.now_ms += world.service.policy.sweeper_grace_s * 1000
    assert world.service.sweep() == [f"{ORG}/req-00000001"]
    assert world.status() is GrantStatus.GRANTED
