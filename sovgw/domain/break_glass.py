"""Break-glass emergency access: request, two-person approval, time-bound grant, guaranteed expiry.

A grant opens the way it closes: through an ordered table of steps, each idempotent and
recorded when done, so a retried event, the sweeper or an operator resumes where a failed run
stopped. ``REQUESTED → GRANTING → GRANTED`` only once every opening step is done; if opening
cannot finish within ``open_timeout_s`` (or a step is refused outright) the grant is rolled
back through the closing steps and ends ``ROLLED_BACK`` with the reason. A grant is never
``GRANTED`` without every access in place.

Every grant is bounded three times: the Salesforce permission set assignment carries its
``ExpirationDate``, a one-time schedule fires at expiry, and a sweeper (every 30 s) expires
whatever is due whether or not the schedule fired. One worker drives a grant at a time (a lease
in the shared store). Every step is audited. Nothing here imports AWS: the edges are the ports
below.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from sovgw.domain.audit import AuditRecord, Outcome, Stage, audit_record_id
from sovgw.domain.errors import GatewayError, RejectedInput, UpstreamUnavailable
from sovgw.domain.write_back import GrantRecord, GrantRecordStatus
from sovgw.ports import AuditSink, AwsAccess, GrantStore, SalesforceAccess

USER_ID = r"^005[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$"
_SCOPE_ITEM = re.compile(
    r"^(?:(?P<object>[A-Z][A-Za-z0-9_]{1,60}):(?P<access>read|edit)"
    r"|aws:(?P<role>[A-Za-z0-9+=,.@_-]{1,64})"
    r"|subscription:(?P<rule>[A-Za-z0-9._-]{1,64}))$"
)
OPENING_STEPS = (
    "schedule_expiry",
    "assign_permission_sets",
    "open_aws_roles",
    "enable_subscriptions",
    "grant_record",
)
CLOSING_STEPS = (
    "remove_assignments",
    "end_aws_sessions",
    "disable_subscriptions",
    "close_record",
    "revoke_tokens",
    "rotate_emergency_credential",
)
APPROVER_PERMISSION_SET = "Break_Glass_Approver"
SWEEP_ATTEMPTS = 3  # a sweep tries a step briefly: it must not hold up other grants' expiry
MAX_PAUSE_S = 5.0


class GrantStatus(StrEnum):
    REQUESTED = "REQUESTED"
    GRANTING = "GRANTING"
    GRANTED = "GRANTED"
    DENIED = "DENIED"
    REQUEST_EXPIRED = "REQUEST_EXPIRED"
    EXPIRING = "EXPIRING"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    ROLLED_BACK = "ROLLED_BACK"


ENDED = frozenset({GrantStatus.EXPIRED, GrantStatus.REVOKED, GrantStatus.ROLLED_BACK})
# What the grant's record in Salesforce says, for the approver and requester.
RECORD_STATUS = {
    GrantStatus.GRANTED: GrantRecordStatus.GRANTED,
    GrantStatus.EXPIRED: GrantRecordStatus.EXPIRED,
    GrantStatus.REVOKED: GrantRecordStatus.REVOKED,
    GrantStatus.ROLLED_BACK: GrantRecordStatus.ROLLED_BACK,
}


class BreakGlassError(GatewayError):
    """A refused break-glass action (the message says why; nothing was granted)."""


class RequestNotYetKnown(UpstreamUnavailable):
    """An approval for a request not stored yet (events can arrive out of order): retried."""


class GrantBusy(UpstreamUnavailable):
    """Another worker is driving this grant right now: retried after it."""


class GrantRolledBack(BreakGlassError):
    """Opening could not finish: everything it opened was closed again (the reason says why)."""


@dataclass(frozen=True)
class BreakGlassPolicy:
    """Per jurisdiction: the longest grant, how long a request waits for approval, and how long
    opening an approved grant may take before it is rolled back."""

    max_duration_s: int = 3600
    approval_timeout_s: int = 900
    sweep_interval_s: int = 30
    open_timeout_s: int = 60
    lease_ttl_s: int = 90
    # The sweeper leaves a fresh approval's opening to the approving worker this long: taking
    # the lease first, it would make the approval's own retries end GrantBusy, not with why.
    sweeper_grace_s: int = 5


@dataclass(frozen=True)
class Scope:
    """What a grant opens: Salesforce permission sets, AWS roles, event subscriptions."""

    permission_sets: tuple[str, ...] = ()
    aws_roles: tuple[str, ...] = ()
    subscriptions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``Case:read, aws:sovgw-eu-de-break-glass, subscription:case-changes``."""
        sets, roles, rules = [], [], []
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise RejectedInput("scope is empty: name what the grant opens (e.g. Case:read)")
        for item in items:
            match = _SCOPE_ITEM.match(item)
            if match is None:
                raise RejectedInput(
                    f"scope item {item[:80]!r} is not <Object>:read|edit, aws:<role> or "
                    "subscription:<rule>"
                )
            if match.group("object"):
                sets.append(f"Break_Glass_{match.group('object')}_{match.group('access').title()}")
            elif match.group("role"):
                roles.append(match.group("role"))
            else:
                rules.append(match.group("rule"))
        return cls(tuple(sets), tuple(roles), tuple(rules))


class BreakGlassRequest(BaseModel):
    """A validated request (from ``Break_Glass_Request__e`` or ``sovgw break-glass request``)."""

    model_config = ConfigDict(frozen=True)

    request_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    org_id: str
    jurisdiction: str
    requested_by: str = Field(pattern=USER_ID)
    target_user: str = Field(pattern=USER_ID)
    reason: str = Field(min_length=10, max_length=1000)
    case_reference: str = Field(min_length=3, max_length=80)
    scope: str = Field(min_length=3, max_length=500)
    duration_s: int

    @field_validator("reason", "case_reference", "scope")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("duration_s")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("duration must be positive")
        return value


class Grant(BaseModel):
    """One break-glass request and, once approved, its grant: the record in the shared store."""

    model_config = ConfigDict(extra="ignore")

    request_id: str
    org_id: str
    jurisdiction: str
    requested_by: str
    target_user: str
    reason: str
    case_reference: str
    scope: str
    duration_s: int
    status: GrantStatus
    requested_at: int
    approve_by: int
    approver: str | None = None
    approved_at: int | None = None
    open_by: int | None = None
    granted_at: int | None = None
    expires_at: int | None = None
    assignments: list[str] = Field(default_factory=list)
    aws_access: list[str] = Field(default_factory=list)
    opened: list[str] = Field(default_factory=list)
    closed: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("closed", "steps_done")
    )
    ending: GrantStatus | None = None
    ended_by: str | None = None
    ended_at: int | None = None
    failure: str | None = None
    last_error: str | None = None
    sessions_revoked: int | None = None

    @classmethod
    def requested(cls, request: BreakGlassRequest, now_ms: int, approval_timeout_s: int) -> Grant:
        return cls(
            **request.model_dump(),
            status=GrantStatus.REQUESTED,
            requested_at=now_ms,
            approve_by=now_ms + approval_timeout_s * 1000,
        )

    @property
    def pending_step(self) -> str | None:
        """The next step to run: an opening one while GRANTING, a closing one while EXPIRING."""
        steps, done = {
            GrantStatus.GRANTING: (OPENING_STEPS, self.opened),
            GrantStatus.EXPIRING: (CLOSING_STEPS, self.closed),
        }.get(self.status, ((), []))
        return next((step for step in steps if step not in done), None)

    def view(self) -> dict[str, Any]:
        """What an operator sees (``sovgw break-glass show``)."""
        return {**self.model_dump(mode="json"), "pending_step": self.pending_step}


Step = Callable[[Grant, SalesforceAccess], Mapping[str, Any] | None]


@dataclass
class BreakGlassService:
    """The lifecycle, with its adapters injected."""

    jurisdiction: str
    policy: BreakGlassPolicy
    store: GrantStore
    # (org, grant id): with a grant, its calls use the EMERGENCY lane that grant unlocks and
    # sessions of its own; without one (checks before approval), the INTERACTIVE lane.
    salesforce_for: Callable[[str, str | None], SalesforceAccess]
    aws: AwsAccess
    audit: AuditSink
    clock_ms: Callable[[], int]
    rotate_emergency: Callable[[str], None]
    sleep: Callable[[float], None] = field(default=time.sleep)

    def _audit(self, grant: Grant, step: str, outcome: Outcome, reason: str = "") -> None:
        self.audit.write(
            AuditRecord(
                record_id=audit_record_id(
                    f"break-glass/{grant.request_id}/{step}", Stage.BREAK_GLASS
                ),
                stage=Stage.BREAK_GLASS,
                jurisdiction=self.jurisdiction,
                org_id=grant.org_id,
                principal=grant.approver or grant.requested_by,
                purpose=f"break-glass:{step}",
                reason=(reason or f"{step}: case {grant.case_reference}")[:1000],
                outcome=outcome,
            )
        )

    def _is_approver(self, org_id: str, user_id: str) -> bool:
        """Approvers are the users who hold ``APPROVER_PERMISSION_SET`` now."""
        salesforce = self.salesforce_for(org_id, None)
        return salesforce.holds_permission_set(user_id, APPROVER_PERMISSION_SET, self.clock_ms())

    @contextmanager
    def _driving(self, org_id: str, request_id: str) -> Iterator[None]:
        """This worker alone drives the grant inside; another one holding it means retry."""
        with self.store.lease(org_id, request_id, self.policy.lease_ttl_s * 1000) as mine:
            if not mine:
                raise GrantBusy(f"grant {request_id} is being worked on; retry shortly")
            yield

    def _load(self, org_id: str, request_id: str) -> Grant:
        grant = self.store.get(org_id, request_id)
        if grant is None:
            raise RequestNotYetKnown(f"no break-glass request {request_id} in org {org_id} yet")
        return grant

    # --- request and decision ---------------------------------------------------------------

    def request(self, request: BreakGlassRequest) -> Grant:
        """Record a request (once per request id); nothing is granted yet."""
        if request.duration_s > self.policy.max_duration_s:
            raise BreakGlassError(
                f"duration {request.duration_s} s is over the jurisdiction's maximum of "
                f"{self.policy.max_duration_s} s"
            )
        scope = Scope.parse(request.scope)
        salesforce = self.salesforce_for(request.org_id, None)
        if not salesforce.user_exists(request.target_user):
            raise BreakGlassError(f"user {request.target_user} does not exist in the org")
        for name in scope.permission_sets:
            if salesforce.permission_set_id(name) is None:
                raise BreakGlassError(f"the org has no permission set {name} for this scope")
        grant = Grant.requested(request, self.clock_ms(), self.policy.approval_timeout_s)
        if self.store.create(grant):
            self._audit(grant, "requested", Outcome.OK)
            return grant
        return self._load(request.org_id, request.request_id)  # a replay: the first one stands

    def approve(self, org_id: str, request_id: str, approver: str) -> Grant:
        """A second person with the approver role approves; opening starts now."""
        grant = self._load(org_id, request_id)
        if (
            grant.status in {GrantStatus.GRANTING, GrantStatus.GRANTED}
            and grant.approver == approver
        ):
            return self._finish_opening(grant, patient=True)  # the same approval again
        if approver in {grant.requested_by, grant.target_user}:
            self._audit(grant, "approval_refused", Outcome.DENIED, "approver is the requester")
            raise BreakGlassError("the approver must be someone other than requester and target")
        now = self.clock_ms()
        if grant.status is GrantStatus.REQUESTED and now > grant.approve_by:
            self.store.transition(
                org_id, request_id, [GrantStatus.REQUESTED], GrantStatus.REQUEST_EXPIRED
            )
            raise BreakGlassError("the request expired unapproved; raise a new one")
        if grant.status is not GrantStatus.REQUESTED:
            raise BreakGlassError(
                f"request is {grant.status}: an expired or ended grant needs a new request"
            )
        if not self._is_approver(org_id, approver):
            self._audit(grant, "approval_refused", Outcome.DENIED, "approver lacks the role")
            raise BreakGlassError(f"user {approver} does not hold the break-glass approver role")
        expires_at = now + grant.duration_s * 1000
        decided = {
            "approver": approver,
            "approved_at": now,
            "open_by": now + self.policy.open_timeout_s * 1000,
            "expires_at": expires_at,
        }
        if not self.store.transition(
            org_id, request_id, [GrantStatus.REQUESTED], GrantStatus.GRANTING, **decided
        ):
            raise BreakGlassError("the request changed while approving it; look at it again")
        grant = grant.model_copy(update={**decided, "status": GrantStatus.GRANTING})
        self.store.hold(org_id, request_id, expires_at)
        # the sweeper finishes what this worker cannot (it died, or gave up for now)
        self.store.mark_due(org_id, request_id, now + self.policy.sweeper_grace_s * 1000)
        self._audit(grant, "approved", Outcome.OK)
        return self._finish_opening(grant, patient=True)

    def deny(self, org_id: str, request_id: str, by: str) -> Grant:
        """An approver rejects a request, or its requester withdraws it."""
        grant = self._load(org_id, request_id)
        if by != grant.requested_by and not self._is_approver(org_id, by):
            raise BreakGlassError(f"user {by} may not reject this request")
        if not self.store.transition(
            org_id, request_id, [GrantStatus.REQUESTED], GrantStatus.DENIED, ended_by=by
        ):
            raise BreakGlassError(f"request is {grant.status}: only a pending one is denied")
        self._audit(grant, "denied", Outcome.DENIED, f"rejected by {by}")
        return grant.model_copy(update={"status": GrantStatus.DENIED, "ended_by": by})

    # --- opening ----------------------------------------------------------------------------

    def _opening_steps(self) -> tuple[tuple[str, Step], ...]:
        return (
            ("schedule_expiry", self._schedule_expiry),
            ("assign_permission_sets", self._assign_permission_sets),
            ("open_aws_roles", self._open_aws_roles),
            ("enable_subscriptions", self._enable_subscriptions),
            ("grant_record", self._grant_record),
        )

    def _schedule_expiry(self, grant: Grant, salesforce: SalesforceAccess) -> None:
        self.aws.schedule_expiry(grant.org_id, grant.request_id, _expiry(grant))

    def _assign_permission_sets(self, grant: Grant, salesforce: SalesforceAccess) -> dict[str, Any]:
        assignments = []
        for name in Scope.parse(grant.scope).permission_sets:
            permission_set = salesforce.permission_set_id(name)
            if permission_set is None:
                raise BreakGlassError(f"the org no longer has permission set {name}")
            assignments.append(
                salesforce.find_assignment(grant.target_user, permission_set, _expiry(grant))
                or salesforce.assign(grant.target_user, permission_set, _expiry(grant))
            )
        return {"assignments": assignments}

    def _open_aws_roles(self, grant: Grant, salesforce: SalesforceAccess) -> dict[str, Any]:
        roles = Scope.parse(grant.scope).aws_roles
        return {
            "aws_access": [
                self.aws.open_role(role, grant.request_id, _expiry(grant)) for role in roles
            ]
        }

    def _enable_subscriptions(self, grant: Grant, salesforce: SalesforceAccess) -> None:
        for rule in Scope.parse(grant.scope).subscriptions:
            self.aws.enable_subscription(rule)

    def _grant_record(self, grant: Grant, salesforce: SalesforceAccess) -> None:
        salesforce.upsert_grant_record(grant.request_id, _record(grant, GrantStatus.GRANTED))

    def _finish_opening(self, grant: Grant, *, patient: bool = False) -> Grant:
        """Run the opening steps still pending, under the grant's lease; GRANTED when all are
        done, rolled back when the bound passes or a step is refused for good. ``patient``
        (the approval) retries a failing step until the bound; otherwise (the sweeper, the
        schedule) a few times, and the next sweep goes on."""
        if grant.status is not GrantStatus.GRANTING:
            return grant
        with self._driving(grant.org_id, grant.request_id):
            grant = self._load(grant.org_id, grant.request_id)
            if grant.status is not GrantStatus.GRANTING:
                return grant
            salesforce = self.salesforce_for(grant.org_id, grant.request_id)
            for name, step in self._opening_steps():
                if name in grant.opened:
                    continue
                try:
                    fields = self._attempt(name, step, grant, salesforce, patient=patient)
                except GatewayError as error:
                    reason = _step_error(name, error)
                    if error.retryable and self.clock_ms() < int(grant.open_by or 0):
                        self._audit(grant, f"{name}_failed", Outcome.FAILED, reason)
                        raise
                    self._roll_back(grant, reason)
                grant = grant.model_copy(update={**(fields or {}), "opened": [*grant.opened, name]})
                self.store.update(
                    grant.org_id, grant.request_id, opened=grant.opened, **(fields or {})
                )
                self._audit(grant, name, Outcome.OK)
            now = self.clock_ms()
            if not self.store.transition(
                grant.org_id,
                grant.request_id,
                [GrantStatus.GRANTING],
                GrantStatus.GRANTED,
                granted_at=now,
                last_error=None,
            ):
                return self._load(grant.org_id, grant.request_id)
            self.store.mark_due(grant.org_id, grant.request_id, _expiry(grant))
            grant = grant.model_copy(update={"status": GrantStatus.GRANTED, "granted_at": now})
            self._audit(
                grant, "granted", Outcome.OK, f"granted until {grant.expires_at} (epoch ms)"
            )
            return grant

    def _attempt(
        self, name: str, step: Step, grant: Grant, salesforce: SalesforceAccess, *, patient: bool
    ) -> Mapping[str, Any] | None:
        """Run one step; after a retryable failure (recorded, so ``show`` says what is wrong),
        again after a pause (doubling up to 5 s) while the opening bound allows it."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return step(grant, salesforce)
            except GatewayError as error:
                if error.retryable:
                    self.store.update(
                        grant.org_id, grant.request_id, last_error=_step_error(name, error)
                    )
                pause = min(0.5 * 2 ** (attempt - 1), MAX_PAUSE_S)
                if (
                    not error.retryable
                    or (not patient and attempt >= SWEEP_ATTEMPTS)
                    or self.clock_ms() + pause * 1000 >= int(grant.open_by or 0)
                ):
                    raise
                self.sleep(pause)

    def _roll_back(self, grant: Grant, reason: str) -> NoReturn:
        """Close whatever opening did, record why, and refuse the approval with that reason."""
        self.store.transition(
            grant.org_id,
            grant.request_id,
            [GrantStatus.GRANTING],
            GrantStatus.EXPIRING,
            ending=GrantStatus.ROLLED_BACK.value,
            ended_by="rollback",
            failure=reason,
        )
        self._audit(grant, "rolling_back", Outcome.FAILED, f"could not open: {reason}")
        self._close(self._load(grant.org_id, grant.request_id))
        raise GrantRolledBack(
            f"break-glass access could not be opened and was rolled back ({reason}); "
            "approve a new request once the cause is fixed"
        )

    # --- closing ----------------------------------------------------------------------------

    def revoke(self, org_id: str, request_id: str, by: str) -> Grant:
        """End a grant early (the closing steps, as at expiry); a pending request is denied."""
        return self._end(org_id, request_id, GrantStatus.REVOKED, by)

    def expire(self, org_id: str, request_id: str) -> Grant:
        """The one-time schedule's target; early calls wait for the sweeper."""
        grant = self._load(org_id, request_id)
        if grant.status is GrantStatus.GRANTING:
            return self._finish_opening(grant)
        if (grant.expires_at or 0) > self.clock_ms():
            return grant
        return self._end(org_id, request_id, GrantStatus.EXPIRED, "expiry")

    def sweep(self) -> list[str]:
        """Finish or roll back every grant still opening, expire every due grant, resume every
        unfinished closing; the backstop for lost events and schedules."""
        done = []
        for org_id, request_id in self.store.due(self.clock_ms()):
            try:
                grant = self.store.get(org_id, request_id)
                if grant is None or grant.status in ENDED:
                    self.store.done(org_id, request_id)
                elif grant.status is GrantStatus.GRANTING:
                    self._finish_opening(grant)
                else:
                    self._end(org_id, request_id, GrantStatus.EXPIRED, "expiry")
                done.append(f"{org_id}/{request_id}")
            except GatewayError:
                continue  # stays due: the next sweep retries it
        return done

    def _end(self, org_id: str, request_id: str, ending: GrantStatus, by: str) -> Grant:
        grant = self._load(org_id, request_id)
        if grant.status in ENDED:
            self.store.done(org_id, request_id)
            return grant
        if grant.status is GrantStatus.REQUESTED and ending is GrantStatus.REVOKED:
            return self.deny(org_id, request_id, by)  # not granted yet: same checks
        if grant.status not in {GrantStatus.GRANTING, GrantStatus.GRANTED, GrantStatus.EXPIRING}:
            raise BreakGlassError(f"request is {grant.status}: nothing to end")
        with self._driving(org_id, request_id):
            self.store.transition(
                org_id,
                request_id,
                [GrantStatus.GRANTING, GrantStatus.GRANTED],
                GrantStatus.EXPIRING,
                ending=ending.value,
                ended_by=by,
            )
            return self._close(self._load(org_id, request_id))

    def _closing_steps(self) -> tuple[tuple[str, Step], ...]:
        return (
            ("remove_assignments", self._remove_assignments),
            ("end_aws_sessions", self._end_aws_sessions),
            ("disable_subscriptions", self._disable_subscriptions),
            ("close_record", self._close_record),
            ("revoke_tokens", self._revoke_tokens),
            ("rotate_emergency_credential", self._rotate_emergency_credential),
        )

    def _remove_assignments(self, grant: Grant, salesforce: SalesforceAccess) -> None:
        found = set(grant.assignments)
        if "assign_permission_sets" not in grant.opened and grant.expires_at is not None:
            # Cut short (a failure half way, or a crash before it was recorded): what it made
            # carries the grant's expiry, so it is found the way a retry finds it.
            for name in Scope.parse(grant.scope).permission_sets:
                permission_set = salesforce.permission_set_id(name)
                made = permission_set and salesforce.find_assignment(
                    grant.target_user, permission_set, grant.expires_at
                )
                if made:
                    found.add(made)
        for assignment in sorted(found):
            salesforce.unassign(assignment)

    def _end_aws_sessions(self, grant: Grant, salesforce: SalesforceAccess) -> None:
        for role in Scope.parse(grant.scope).aws_roles:
            self.aws.close_role(role, grant.request_id, self.clock_ms())

    def _disable_subscriptions(self, grant: Grant, salesforce: SalesforceAccess) -> None:
        for rule in Scope.parse(grant.scope).subscriptions:
            self.aws.disable_subscription(rule)

    def _close_record(self, grant: Grant, salesforce: SalesforceAccess) -> None:
        self.aws.cancel_schedule(grant.org_id, grant.request_id)
        ending = grant.ending or GrantStatus.EXPIRED
        salesforce.upsert_grant_record(grant.request_id, _record(grant, ending))

    def _revoke_tokens(self, grant: Grant, salesforce: SalesforceAccess) -> dict[str, Any]:
        return {"sessions_revoked": salesforce.end_sessions()}

    def _rotate_emergency_credential(self, grant: Grant, salesforce: SalesforceAccess) -> None:
        self.store.release_hold(grant.org_id, grant.request_id)  # rotation waits for every grant
        self.rotate_emergency(grant.org_id)

    def _close(self, grant: Grant) -> Grant:
        """Run the closing steps still pending (the caller holds the lease)."""
        if grant.status is not GrantStatus.EXPIRING:
            return grant
        salesforce = self.salesforce_for(grant.org_id, grant.request_id)
        for name, step in self._closing_steps():
            if name in grant.closed:
                continue
            fields = dict(step(grant, salesforce) or {})
            grant = grant.model_copy(update={"closed": [*grant.closed, name]})
            self.store.update(grant.org_id, grant.request_id, closed=grant.closed, **fields)
            self._audit(grant, name, Outcome.OK, _step_reason(name, fields))
        final = grant.ending or GrantStatus.EXPIRED
        now = self.clock_ms()
        self.store.transition(
            grant.org_id, grant.request_id, [GrantStatus.EXPIRING], final, ended_at=now
        )
        self.store.done(grant.org_id, grant.request_id)
        outcome = Outcome.FAILED if final is GrantStatus.ROLLED_BACK else Outcome.OK
        self._audit(grant, final.value.lower(), outcome, grant.failure or "")
        return grant.model_copy(update={"status": final, "ended_at": now})


def _expiry(grant: Grant) -> int:
    if grant.expires_at is None:
        raise BreakGlassError(f"grant {grant.request_id} has no expiry: it was never approved")
    return grant.expires_at


def _record(grant: Grant, status: GrantStatus) -> GrantRecord:
    """The grant as the approver and requester see it in Salesforce."""
    shown = {
        "status": RECORD_STATUS[status],
        "target_user": grant.target_user,
        "approver": grant.approver,
        "case_reference": grant.case_reference,
        "scope": grant.scope,
        "expires_at_ms": grant.expires_at,
    }
    if status is GrantStatus.ROLLED_BACK:
        reason = f"Could not be opened, rolled back: {grant.failure}"[:255]
        return GrantRecord(**shown, status_reason=reason)
    return GrantRecord(**shown)


def _step_error(step: str, error: GatewayError) -> str:
    return f"{step}: {error}"[:500]


def _step_reason(step: str, fields: Mapping[str, Any]) -> str:
    details = ", ".join(f"{key} {value}" for key, value in fields.items())
    return f"{step}: {details}" if details else ""
