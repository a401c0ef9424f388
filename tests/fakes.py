"""In-memory adapters for the ports in ``sovgw.ports``: unit tests drive the domain through
these in milliseconds; the e2e suite drives the same domain through the real adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sovgw.domain.audit import AuditRecord
from sovgw.domain.break_glass import Grant
from sovgw.domain.errors import GatewayError
from sovgw.domain.incidents import IncidentEvent
from sovgw.domain.relay_watch import RelayReceipt
from sovgw.domain.rotation import CURRENT, PENDING, SecretState
from sovgw.domain.write_back import GrantRecord
from sovgw.ports import IncidentEventExists


class MemoryAudit:
    """``AuditSink``: the same record id is stored once."""

    def __init__(self) -> None:
        self.records: dict[str, AuditRecord] = {}

    def write(self, record: AuditRecord) -> str:
        self.records.setdefault(record.record_id, record)
        return f"mem://{record.record_id}"

    def purposes(self) -> list[str]:
        return [r.purpose or "" for r in self.records.values()]


class MemoryVault:
    """``MappingVault``: seals by reference and checks the context, as the KMS vault does."""

    def __init__(self) -> None:
        self.sealed: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    def seal(self, mapping: Mapping[str, str], context: Mapping[str, str]) -> str:
        handle = f"sealed-{len(self.sealed)}"
        self.sealed[handle] = (dict(mapping), dict(context))
        return handle

    def open(self, sealed: str, context: Mapping[str, str]) -> dict[str, str]:
        mapping, bound = self.sealed[sealed]
        assert bound == dict(context), "opened for another request"
        return mapping


class Clock:
    """Epoch milliseconds that move only when told (``sleep`` moves them too)."""

    def __init__(self, now_ms: int = 1_800_000_000_000) -> None:
        self.now_ms = now_ms
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now_ms

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_ms += int(seconds * 1000)


class Failures:
    """Errors to raise from named operations, in order, before they succeed again."""

    def __init__(self) -> None:
        self._planned: dict[str, list[GatewayError]] = {}

    def plan(self, operation: str, *errors: GatewayError) -> None:
        self._planned.setdefault(operation, []).extend(errors)

    def check(self, operation: str) -> None:
        planned = self._planned.get(operation)
        if planned:
            raise planned.pop(0)


def _stored(grant: Grant, fields: Mapping[str, Any]) -> Grant:
    """What the shared store holds after an update: JSON, validated when read back."""
    return Grant.model_validate_json(
        json.dumps({**grant.model_dump(mode="json"), **fields}, default=str)
    )


class MemoryGrantStore:
    """``GrantStore`` with the same compare-and-set semantics as the Valkey one."""

    def __init__(self) -> None:
        self.grants: dict[tuple[str, str], Grant] = {}
        self.holds: dict[tuple[str, str], int] = {}
        self.due_at: dict[tuple[str, str], int] = {}
        self.leased: set[tuple[str, str]] = set()

    def create(self, grant: Grant) -> bool:
        key = (grant.org_id, grant.request_id)
        if key in self.grants:
            return False
        self.grants[key] = grant
        return True

    def get(self, org_id: str, request_id: str) -> Grant | None:
        return self.grants.get((org_id, request_id))

    def transition(
        self, org_id: str, request_id: str, allowed: Sequence[str], to: str, **fields: Any
    ) -> bool:
        grant = self.grants.get((org_id, request_id))
        if grant is None or grant.status not in allowed:
            return False
        self.grants[(org_id, request_id)] = _stored(grant, {**fields, "status": to})
        return True

    def update(self, org_id: str, request_id: str, **fields: Any) -> None:
        grant = self.grants[(org_id, request_id)]
        self.grants[(org_id, request_id)] = _stored(grant, fields)

    def hold(self, org_id: str, request_id: str, until_ms: int) -> None:
        self.holds[(org_id, request_id)] = until_ms

    def release_hold(self, org_id: str, request_id: str) -> None:
        self.holds.pop((org_id, request_id), None)

    def mark_due(self, org_id: str, request_id: str, at_ms: int) -> None:
        self.due_at[(org_id, request_id)] = at_ms

    def due(self, now_ms: int) -> list[tuple[str, str]]:
        return [key for key, at in sorted(self.due_at.items()) if at <= now_ms]

    def done(self, org_id: str, request_id: str) -> None:
        self.due_at.pop((org_id, request_id), None)
        self.release_hold(org_id, request_id)

    def list(self, org_id: str) -> list[Grant]:
        return [g for (org, _), g in self.grants.items() if org == org_id]

    @contextmanager
    def lease(self, org_id: str, request_id: str, ttl_ms: int) -> Iterator[bool]:
        key = (org_id, request_id)
        if key in self.leased:
            yield False
            return
        self.leased.add(key)
        try:
            yield True
        finally:
            self.leased.discard(key)


@dataclass
class FakeOrg:
    """``SalesforceAccess``: users, permission sets and their assignments, grant records."""

    users: set[str]
    permission_sets: dict[str, str]
    approvers: set[str]
    failures: Failures = field(default_factory=Failures)
    assignments: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    records: dict[str, GrantRecord] = field(default_factory=dict)
    sessions_minted: int = 1
    sessions_ended: bool = False

    def user_exists(self, user_id: str) -> bool:
        return user_id in self.users

    def holds_permission_set(self, user_id: str, name: str, at_ms: int) -> bool:
        return name == "Break_Glass_Approver" and user_id in self.approvers

    def permission_set_id(self, name: str) -> str | None:
        return self.permission_sets.get(name)

    def find_assignment(
        self, user_id: str, permission_set_id: str, expires_at_ms: int
    ) -> str | None:
        wanted = (user_id, permission_set_id, expires_at_ms)
        return next((a for a, made in self.assignments.items() if made == wanted), None)

    def assign(self, user_id: str, permission_set_id: str, expires_at_ms: int) -> str:
        self.failures.check("assign")
        assignment = f"0Pa{len(self.assignments):015d}"
        self.assignments[assignment] = (user_id, permission_set_id, expires_at_ms)
        return assignment

    def unassign(self, assignment_id: str) -> None:
        self.failures.check("unassign")
        self.assignments.pop(assignment_id, None)

    def end_sessions(self) -> int:
        self.sessions_ended = True
        return self.sessions_minted

    def upsert_grant_record(self, request_id: str, record: GrantRecord) -> None:
        self.failures.check("upsert_grant_record")
        self.records[request_id] = record


@dataclass
class FakeAws:
    """``AwsAccess``: roles opened for grants, subscriptions, one-time schedules."""

    failures: Failures = field(default_factory=Failures)
    open_roles: dict[tuple[str, str], int] = field(default_factory=dict)
    closed_roles: list[tuple[str, str]] = field(default_factory=list)
    enabled: set[str] = field(default_factory=set)
    schedules: dict[tuple[str, str], int] = field(default_factory=dict)

    def open_role(self, role: str, grant_id: str, expires_at_ms: int) -> str:
        self.failures.check("open_role")
        self.open_roles[(role, grant_id)] = expires_at_ms
        return f"{role}:{grant_id}"

    def close_role(self, role: str, grant_id: str, issued_before_ms: int) -> None:
        self.open_roles.pop((role, grant_id), None)
        self.closed_roles.append((role, grant_id))

    def enable_subscription(self, rule: str) -> None:
        self.enabled.add(rule)

    def disable_subscription(self, rule: str) -> None:
        self.enabled.discard(rule)

    def schedule_expiry(self, org_id: str, request_id: str, at_ms: int) -> None:
        self.failures.check("schedule_expiry")
        self.schedules[(org_id, request_id)] = at_ms

    def cancel_schedule(self, org_id: str, request_id: str) -> None:
        self.schedules.pop((org_id, request_id), None)


@dataclass
class MemorySecret:
    """``SecretVersions`` for one secret: version id → (stages, value)."""

    name: str
    versions: dict[str, tuple[tuple[str, ...], dict[str, Any]]]

    def describe(self, secret_id: str) -> SecretState:
        return SecretState(self.name, True, {v: stages for v, (stages, _) in self.versions.items()})

    def value(self, secret_id: str, version_id: str) -> dict[str, Any] | None:
        found = self.versions.get(version_id)
        return dict(found[1]) if found else None

    def put_pending(self, secret_id: str, token: str, value: Mapping[str, Any]) -> None:
        self.versions[token] = ((PENDING,), dict(value))

    def promote(self, secret_id: str, token: str, from_version: str) -> None:
        _, value = self.versions[from_version]
        self.versions[from_version] = (("AWSPREVIOUS",), value)
        self.versions[token] = ((CURRENT,), self.versions[token][1])

    def current(self) -> dict[str, Any]:
        return next(value for stages, value in self.versions.values() if CURRENT in stages)


@dataclass
class FakeConnectedApp:
    """``ConsumerSecrets``: Salesforce's staged credential of one connected app."""

    secret: str = "secret-0"
    staged: str | None = None
    issued: int = 0
    logins_refused: bool = False

    def stage(self, client_id: str) -> str:
        self.issued += 1
        self.staged = f"secret-{self.issued}"
        return self.staged

    def discard(self, client_id: str) -> None:
        self.staged = None

    def rotate_in(self, client_id: str) -> None:
        if self.staged is not None:
            self.secret, self.staged = self.staged, None

    def login_works(self, value: Mapping[str, Any]) -> bool:
        return not self.logins_refused and value["client_secret"] in {self.secret, self.staged}


@dataclass
class MemoryRetirement:
    """``CredentialRetirement``: which credential versions were retired; grants active."""

    retired: list[str] = field(default_factory=list)
    grant_active: bool = False

    def retire(self, credential_id: str) -> None:
        self.retired.append(credential_id)

    def break_glass_active(self) -> bool:
        return self.grant_active


class MemoryRelayLedger:
    """``RelayLedger`` in memory (the Valkey one is tested against redis-server)."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, tuple[RelayReceipt, int]]] = {}
        self.beats: dict[str, int] = {}
        self.started: dict[str, int] = {}
        self.gaps: dict[str, int] = {}

    def received(self, org_id: str, receipt: RelayReceipt) -> None:
        self.events.setdefault(org_id, {})[receipt.event_uuid] = (receipt, receipt.published_ms)

    def heartbeat(self, org_id: str, sent_ms: int) -> None:
        self.beats[org_id] = max(sent_ms, self.beats.get(org_id, 0))

    def last_heartbeat(self, org_id: str) -> int | None:
        return self.beats.get(org_id)

    def watching_since(self, org_id: str, now_ms: int) -> int:
        return self.started.setdefault(org_id, now_ms)

    def set_gap(self, org_id: str, open_since_ms: int | None) -> int | None:
        previous = self.gaps.get(org_id)
        if open_since_ms is None:
            self.gaps.pop(org_id, None)
        elif previous is None:
            self.gaps[org_id] = open_since_ms
        return previous

    def received_since(self, org_id: str, since_ms: int) -> set[str]:
        return {u for u, (_, at) in self.events.get(org_id, {}).items() if at >= since_ms}

    def checkpoint(self, org_id: str, event_name: str, before_ms: int) -> str | None:
        earlier = [
            r
            for r, at in self.events.get(org_id, {}).values()
            if at < before_ms and r.event_name == event_name and r.replay_id
        ]
        newest = max(earlier, key=lambda r: (r.published_ms, int(r.replay_id or 0)), default=None)
        return newest.replay_id if newest else None


class MemoryObjects:
    """``DatasetObjects`` in a dict (the S3 adapter runs on moto and LocalStack elsewhere)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.objects[key] = body
        self.puts.append(key)

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)


class MemoryIncidents:
    """``IncidentStore`` in memory; ``lose_race`` numbers are taken by "another operator"
    just before this one writes them."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, int], IncidentEvent] = {}
        self.lose_race: set[int] = set()

    def write(self, event: IncidentEvent) -> None:
        key = (event.incident_id, event.sequence)
        if event.sequence in self.lose_race:
            self.lose_race.discard(event.sequence)
            self.stored[key] = event.model_copy(update={"by": "someone else"})
        if key in self.stored:
            raise IncidentEventExists(str(key))
        self.stored[key] = event

    def events(self, incident_id: str) -> list[IncidentEvent]:
        return [e for (i, _), e in sorted(self.stored.items()) if i == incident_id]

    def incident_ids(self) -> list[str]:
        return sorted({i for i, _ in self.stored})
