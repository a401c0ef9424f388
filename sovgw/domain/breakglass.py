"""Break-glass emergency access: request, two-person approval, time-bound grant, guaranteed expiry.

Every grant is bounded three times: the Salesforce permission set assignment carries its
``ExpirationDate``, a one-time schedule fires at expiry, and a sweeper (every 30 s) expires
whatever is due whether or not the schedule fired. Expiry is idempotent and its steps are
recorded one by one, so a failed or repeated run resumes where it stopped.

The grant record lives in the shared store; every step is audited. Nothing here imports AWS:
the edges are the ports below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sovgw.domain.audit import AuditRecord, Outcome, Stage, audit_record_id
from sovgw.domain.errors import GatewayError, RejectedInput, UpstreamUnavailable

USER_ID = r"^005[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$"
_SCOPE_ITEM = re.compile(
    r"^(?:(?P<object>[A-Z][A-Za-z0-9_]{1,60}):(?P<access>read|edit)"
    r"|aws:(?P<role>[A-Za-z0-9+=,.@_-]{1,64})"
    r"|subscription:(?P<rule>[A-Za-z0-9._-]{1,64}))$"
)
EXPIRY_STEPS = (
    "remove_assignments",
    "end_aws_sessions",
    "disable_subscriptions",
    "close_record",
    "revoke_tokens",
    "rotate_emergency_credential",
)


class GrantStatus(StrEnum):
    REQUESTED = "REQUESTED"
    GRANTED = "GRANTED"
    DENIED = "DENIED"
    REQUEST_EXPIRED = "REQUEST_EXPIRED"
    EXPIRING = "EXPIRING"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


class BreakGlassError(GatewayError):
    """A refused break-glass action (the message says why; nothing was granted)."""


class RequestNotYetKnown(UpstreamUnavailable):
    """An approval for a request not stored yet (events can arrive out of order): retried."""


@dataclass(frozen=True)
class BreakGlassPolicy:
    """Per jurisdiction: the longest grant and how long a request waits for approval."""

    max_duration_s: int = 3600
    approval_timeout_s: int = 900
    sweep_interval_s: int = 30


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


class GrantStore(Protocol):
    """Grant records in the shared store; transitions are compare-and-set."""

    def create(self, record: Mapping[str, Any]) -> bool: ...
    def get(self, org_id: str, request_id: str) -> dict[str, Any] | None: ...
    def transition(
        self, org_id: str, request_id: str, allowed: Sequence[str], to: str, **fields: Any
    ) -> bool: ...
    def update(self, org_id: str, request_id: str, **fields: Any) -> None: ...
    def mark_due(self, org_id: str, request_id: str, at_ms: int) -> None:
        """Index the grant for the sweeper and hold the org's emergency credential."""
        ...

    def release_hold(self, org_id: str, request_id: str) -> None: ...
    def due(self, now_ms: int) -> list[tuple[str, str]]: ...
    def done(self, org_id: str, request_id: str) -> None: ...
    def list(self, org_id: str) -> list[dict[str, Any]]: ...


class SalesforceAccess(Protocol):
    """The org's side of a grant (through the access layer's EMERGENCY lane)."""

    def user_exists(self, user_id: str) -> bool: ...
    def is_approver(self, user_id: str) -> bool: ...
    def permission_set_id(self, name: str) -> str | None: ...
    def assign(self, user_id: str, permission_set_id: str, expires_at_ms: int) -> str: ...
    def unassign(self, assignment_id: str) -> None: ...
    def revoke_tokens(self, tokens: Sequence[str]) -> None: ...
    def session_token(self) -> str | None: ...
    def upsert_grant_record(self, request_id: str, fields: Mapping[str, Any]) -> None: ...


class AwsAccess(Protocol):
    """The AWS side: STS sessions, event subscriptions, the one-time expiry schedule."""

    def open_role(self, role: str, grant_id: str, expires_at_ms: int) -> str:
        """Let sessions tagged with the grant (people assume the role with MFA) act until
        the expiry; return what was attached."""
        ...

    def close_role(self, role: str, grant_id: str, issued_before_ms: int) -> None:
        """Detach the grant's permissions and end every session issued before now."""
        ...

    def enable_subscription(self, rule: str) -> None: ...
    def disable_subscription(self, rule: str) -> None: ...
    def schedule_expiry(self, org_id: str, request_id: str, at_ms: int) -> None: ...
    def cancel_schedule(self, org_id: str, request_id: str) -> None: ...


@dataclass
class BreakGlassService:
    """The lifecycle, with its adapters injected."""

    jurisdiction: str
    policy: BreakGlassPolicy
    store: GrantStore
    # (org, grant id): with a grant, its calls use the EMERGENCY lane that grant unlocks;
    # without one (checks before approval), the INTERACTIVE lane.
    salesforce_for: Callable[[str, str | None], SalesforceAccess]
    aws: AwsAccess
    audit: Any
    clock_ms: Callable[[], int]
    rotate_emergency: Callable[[str], None]
    seal_token: Callable[[str, str, str], str]
    unseal_token: Callable[[str, str, str], str]

    def _audit(
        self, record: Mapping[str, Any], step: str, outcome: Outcome, reason: str = ""
    ) -> None:
        self.audit.write(
            AuditRecord(
                record_id=audit_record_id(
                    f"break-glass/{record['request_id']}/{step}", Stage.BREAK_GLASS
                ),
                stage=Stage.BREAK_GLASS,
                jurisdiction=self.jurisdiction,
                org_id=str(record["org_id"]),
                principal=str(record.get("approver") or record.get("requested_by")),
                purpose=f"break-glass:{step}",
                reason=(reason or f"{step}: case {record.get('case_reference')}")[:1000],
                outcome=outcome,
            )
        )

    def request(self, request: BreakGlassRequest) -> dict[str, Any]:
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
        now = self.clock_ms()
        record = {
            **request.model_dump(),
            "status": GrantStatus.REQUESTED.value,
            "requested_at": now,
            "approve_by": now + self.policy.approval_timeout_s * 1000,
        }
        if self.store.create(record):
            self._audit(record, "requested", Outcome.OK)
            return record
        existing = self.store.get(request.org_id, request.request_id)
        assert existing is not None
        return existing  # a replayed or duplicated request: the first one stands

    def approve(self, org_id: str, request_id: str, approver: str) -> dict[str, Any]:
        """A second person with the approver role approves; the grant starts now."""
        record = self.store.get(org_id, request_id)
        if record is None:
            raise RequestNotYetKnown(f"no break-glass request {request_id} in org {org_id} yet")
        if record["status"] == GrantStatus.GRANTED and record.get("approver") == approver:
            return record  # the same approval delivered twice
        if approver in {record["requested_by"], record["target_user"]}:
            self._audit(record, "approval_refused", Outcome.DENIED, "approver is the requester")
            raise BreakGlassError("the approver must be someone other than requester and target")
        now = self.clock_ms()
        if record["status"] == GrantStatus.REQUESTED and now > int(record["approve_by"]):
            self.store.transition(
                org_id, request_id, [GrantStatus.REQUESTED], GrantStatus.REQUEST_EXPIRED
            )
            raise BreakGlassError("the request expired unapproved; raise a new one")
        if record["status"] != GrantStatus.REQUESTED:
            raise BreakGlassError(
                f"request is {record['status']}: an expired or ended grant needs a new request"
            )
        if not self.salesforce_for(org_id, None).is_approver(approver):
            self._audit(record, "approval_refused", Outcome.DENIED, "approver lacks the role")
            raise BreakGlassError(f"user {approver} does not hold the break-glass approver role")
        expires_at = now + int(record["duration_s"]) * 1000
        if not self.store.transition(
            org_id,
            request_id,
            [GrantStatus.REQUESTED],
            GrantStatus.GRANTED,
            approver=approver,
            granted_at=now,
            expires_at=expires_at,
        ):
            raise BreakGlassError("the request changed while approving it; look at it again")
        self.store.mark_due(org_id, request_id, expires_at)  # the sweeper sees it from now on
        record = {**record, "approver": approver, "granted_at": now, "expires_at": expires_at}
        self._audit(record, "approved", Outcome.OK)
        self._open(record, self.salesforce_for(org_id, request_id))
        return {**record, "status": GrantStatus.GRANTED.value}

    def _open(self, record: dict[str, Any], salesforce: SalesforceAccess) -> None:
        scope = Scope.parse(record["scope"])
        org_id, request_id = record["org_id"], record["request_id"]
        expires_at = int(record["expires_at"])
        self.aws.schedule_expiry(org_id, request_id, expires_at)
        assignments = []
        for name in scope.permission_sets:
            permission_set = salesforce.permission_set_id(name)
            if permission_set is not None:
                assignments.append(
                    salesforce.assign(record["target_user"], permission_set, expires_at)
                )
        self.store.update(org_id, request_id, assignments=assignments)
        aws_access = [self.aws.open_role(role, request_id, expires_at) for role in scope.aws_roles]
        for rule in scope.subscriptions:
            self.aws.enable_subscription(rule)
        token = salesforce.session_token()
        self.store.update(
            org_id,
            request_id,
            aws_access=aws_access,
            tokens=[self.seal_token(org_id, request_id, token)] if token else [],
        )
        salesforce.upsert_grant_record(
            request_id,
            {
                "Status__c": "Granted",
                "Target_User__c": record["target_user"],
                "Approver__c": record["approver"],
                "Case_Reference__c": record["case_reference"],
                "Scope__c": record["scope"],
                "Expires_At__c": expires_at,
            },
        )
        self._audit(record, "granted", Outcome.OK, f"granted until {expires_at} (epoch ms)")

    def deny(self, org_id: str, request_id: str, by: str) -> dict[str, Any]:
        """An approver rejects a request, or its requester withdraws it."""
        record = self.store.get(org_id, request_id)
        if record is None:
            raise RequestNotYetKnown(f"no break-glass request {request_id} in org {org_id} yet")
        if by != record["requested_by"] and not self.salesforce_for(org_id, None).is_approver(by):
            raise BreakGlassError(f"user {by} may not reject this request")
        if not self.store.transition(
            org_id, request_id, [GrantStatus.REQUESTED], GrantStatus.DENIED, ended_by=by
        ):
            raise BreakGlassError(f"request is {record['status']}: only a pending one is denied")
        self._audit(record, "denied", Outcome.DENIED, f"rejected by {by}")
        return {**record, "status": GrantStatus.DENIED.value}

    def revoke(self, org_id: str, request_id: str, by: str) -> dict[str, Any]:
        """End a grant early (same steps as expiry)."""
        return self._expire(org_id, request_id, revoked_by=by)

    def sweep(self) -> list[str]:
        """Expire every due grant, resume every unfinished expiry; the backstop."""
        done = []
        for org_id, request_id in self.store.due(self.clock_ms()):
            try:
                self._expire(org_id, request_id)
                done.append(f"{org_id}/{request_id}")
            except GatewayError:
                continue  # stays due: the next sweep retries it
        return done

    def expire(self, org_id: str, request_id: str) -> dict[str, Any]:
        """The one-time schedule's target; early calls wait for the sweeper."""
        record = self.store.get(org_id, request_id)
        if record is None:
            raise BreakGlassError(f"no grant {request_id}")
        if int(record.get("expires_at") or 0) > self.clock_ms():
            return record
        return self._expire(org_id, request_id)

    def _expire(
        self, org_id: str, request_id: str, revoked_by: str | None = None
    ) -> dict[str, Any]:
        record = self.store.get(org_id, request_id)
        if record is None:
            raise BreakGlassError(f"no grant {request_id}")
        if record["status"] in {GrantStatus.EXPIRED, GrantStatus.REVOKED}:
            self.store.done(org_id, request_id)
            return record
        final = GrantStatus.REVOKED if revoked_by else GrantStatus.EXPIRED
        if record["status"] == GrantStatus.GRANTED:
            if not self.store.transition(
                org_id,
                request_id,
                [GrantStatus.GRANTED],
                GrantStatus.EXPIRING,
                ending=final.value,
                ended_by=revoked_by or "expiry",
            ):
                record = self.store.get(org_id, request_id) or record
        elif record["status"] == GrantStatus.REQUESTED and revoked_by:
            return self.deny(org_id, request_id, revoked_by)  # not granted yet: same checks
        elif record["status"] != GrantStatus.EXPIRING:
            raise BreakGlassError(f"request is {record['status']}: nothing to end")
        record = self.store.get(org_id, request_id) or record
        final = GrantStatus(record.get("ending") or final)
        steps_done = set(record.get("steps_done") or ())
        salesforce = self.salesforce_for(org_id, request_id)
        scope = Scope.parse(record["scope"])
        for step in EXPIRY_STEPS:
            if step in steps_done:
                continue
            self._expiry_step(step, record, scope, salesforce)
            steps_done.add(step)
            self.store.update(org_id, request_id, steps_done=sorted(steps_done))
            self._audit(record, step, Outcome.OK)
        self.store.transition(
            org_id, request_id, [GrantStatus.EXPIRING], final, ended_at=self.clock_ms()
        )
        self.store.done(org_id, request_id)
        self._audit(record, final.value.lower(), Outcome.OK)
        return {**record, "status": final.value}

    def _expiry_step(
        self, step: str, record: dict[str, Any], scope: Scope, salesforce: SalesforceAccess
    ) -> None:
        org_id, request_id = record["org_id"], record["request_id"]
        if step == "remove_assignments":
            for assignment in record.get("assignments") or ():
                salesforce.unassign(assignment)
        elif step == "end_aws_sessions":
            for role in scope.aws_roles:
                self.aws.close_role(role, request_id, self.clock_ms())
        elif step == "disable_subscriptions":
            for rule in scope.subscriptions:
                self.aws.disable_subscription(rule)
        elif step == "revoke_tokens":  # the grant's session and this expiry's own
            tokens = [self.unseal_token(org_id, request_id, t) for t in record.get("tokens") or ()]
            current = salesforce.session_token()
            salesforce.revoke_tokens([*tokens, *([current] if current else [])])
        elif step == "rotate_emergency_credential":
            self.store.release_hold(org_id, request_id)  # rotation waits for every grant
            self.rotate_emergency(org_id)
        elif step == "close_record":
            self.aws.cancel_schedule(org_id, request_id)
            salesforce.upsert_grant_record(
                request_id,
                {"Status__c": "Revoked" if record.get("ending") == "REVOKED" else "Expired"},
            )
