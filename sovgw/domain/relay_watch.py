"""Relay gaps: what the gateway received from each org's Event Relay, and when it is missing
something.

Salesforce documents replay ids as opaque and not contiguous, so a jump proves nothing. A gap is
shown instead by (a) the heartbeat the watcher publishes on the relay channel each period: one
that has not arrived within one and a half periods is a gap, and the age of the newest one
that did is the relay's lag; (b) the relay's own feedback row in ERROR. A gap is recorded once
when it opens and once when it closes (audit records), and measured every period (metrics).

The ledger also keeps, per org, every event received (event uuid, replay id, publish time) for
the replay window, so ``relay replay`` starts from the last replay id received before a time and
puts back only what never arrived.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sovgw.domain.audit import AuditRecord, Outcome, Stage, audit_record_id
from sovgw.ports import AuditSink, EventBus, EventPublisher, HeartbeatSender, RelayLedger

LATE_AFTER_PERIODS = 1.5
RELAY_RETENTION_HOURS = 72  # Salesforce keeps high-volume platform events this long
LEDGER_TTL_HOURS = 96  # the replay window plus EventBridge's one-day retry


@dataclass(frozen=True)
class RelayReceipt:
    org_id: str
    event_name: str
    event_uuid: str
    replay_id: str | None
    published_ms: int


_RELAYED = re.compile(
    r"^(?:aws\.partner|sovgw\.replay)/salesforce\.com/(00D[a-zA-Z0-9]{12,15})/0YL\w+$"
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def relay_receipt(event: Mapping[str, Any]) -> RelayReceipt | None:
    """What the ledger keeps of an event the relay delivered (or a replay put back); None for
    anything else, or for an event too malformed to say (its handler refuses it)."""
    source, detail, name = event.get("source"), event.get("detail"), event.get("detail-type")
    org = _RELAYED.match(source) if isinstance(source, str) else None
    if org is None or not isinstance(detail, Mapping) or not isinstance(name, str):
        return None
    event_uuid, payload = detail.get("id"), detail.get("payload")
    created = payload.get("CreatedDate") if isinstance(payload, Mapping) else None
    if not (isinstance(event_uuid, str) and _UUID.match(event_uuid) and isinstance(created, str)):
        return None
    try:
        published = datetime.fromisoformat(created.replace("+0000", "+00:00"))
    except ValueError:
        return None
    replay_id = detail.get("replayId")
    return RelayReceipt(
        org.group(1),
        name,
        event_uuid,
        str(replay_id) if replay_id is not None else None,
        int(published.timestamp() * 1000),
    )


@dataclass(frozen=True)
class RelayCheck:
    org_id: str
    lag_s: float  # now minus the newest heartbeat received (or the start of watching)
    reasons: tuple[str, ...]  # heartbeat_missing, relay_error:<CODE>
    opened: bool  # the gap opened at this check
    closed: bool  # the gap closed at this check
    since_ms: int | None = None  # the open or closing gap's start: the last heartbeat before it

    @property
    def gap(self) -> bool:
        return bool(self.reasons)


def check_relay(
    org_id: str,
    now_ms: int,
    period_s: int,
    ledger: RelayLedger,
    relay_error_code: str | None = None,
) -> RelayCheck:
    """Is the org's relay delivering now? (Before this period's heartbeat is sent.)"""
    newest = ledger.last_heartbeat(org_id)
    baseline = newest if newest is not None else ledger.watching_since(org_id, now_ms)
    lag_s = max(0.0, (now_ms - baseline) / 1000)
    reasons = []
    if lag_s > LATE_AFTER_PERIODS * period_s:
        reasons.append("heartbeat_missing")
    if relay_error_code:
        reasons.append(f"relay_error:{relay_error_code}")
    previous = ledger.set_gap(org_id, baseline if reasons else None)
    return RelayCheck(
        org_id,
        lag_s,
        tuple(reasons),
        opened=bool(reasons) and previous is None,
        closed=not reasons and previous is not None,
        since_ms=baseline if reasons and previous is None else previous,
    )


def new_beat_id() -> str:
    return str(uuid.uuid4())


def gap_record(check: RelayCheck, jurisdiction: str) -> AuditRecord:
    """One record when a gap opens, one when it closes; the pair shares the gap's start."""
    state = "opened" if check.opened else "closed"
    gap_since_ms = check.since_ms or 0
    since = datetime.fromtimestamp(gap_since_ms / 1000, UTC).isoformat()
    return AuditRecord(
        record_id=audit_record_id(f"relay-gap/{check.org_id}/{gap_since_ms}/{state}", Stage.RELAY),
        stage=Stage.RELAY,
        jurisdiction=jurisdiction,
        org_id=check.org_id,
        principal="relay_watch",
        reason=(
            f"relay gap {state}: last heartbeat {since}, lag {check.lag_s:.0f} s"
            + (f"; {', '.join(check.reasons)}" if check.reasons else "")
        ),
        outcome=Outcome.FAILED if check.opened else Outcome.OK,
    )


def replay_record(
    org_id: str, jurisdiction: str, since_ms: int, read: int, put_back: Iterable[str]
) -> AuditRecord:
    """What ``relay replay`` did: how many events it read back and which it put on the bus."""
    put = sorted(put_back)
    since = datetime.fromtimestamp(since_ms / 1000, UTC).isoformat()
    return AuditRecord(
        record_id=audit_record_id(f"relay-replay/{org_id}/{since_ms}/{len(put)}", Stage.RELAY),
        stage=Stage.RELAY,
        jurisdiction=jurisdiction,
        org_id=org_id,
        principal="relay_replay",
        reason=f"replay since {since}: read {read} events, put back {len(put)} never received",
        entity_counts={"read": read, "put_back": len(put)},
        outcome=Outcome.OK,
    )


def watch(  # noqa: PLR0917 - the period's inputs, each a different port
    org_ids: Iterable[str],
    now_ms: int,
    period_s: int,
    ledger: RelayLedger,
    sender: HeartbeatSender,
    audit: AuditSink,
    jurisdiction: str,
    relay_errors: dict[str, str | None] | None = None,
) -> list[RelayCheck]:
    """One period: check each org, record gap transitions, then send its next heartbeat."""
    checks = []
    for org_id in org_ids:
        check = check_relay(org_id, now_ms, period_s, ledger, (relay_errors or {}).get(org_id))
        if check.opened or check.closed:
            audit.write(gap_record(check, jurisdiction))
        sender.publish_heartbeat(org_id, new_beat_id(), now_ms)
        checks.append(check)
    return checks


@dataclass(frozen=True)
class BusEvent:
    """An event read back from Salesforce's event bus."""

    name: str
    event_uuid: str
    replay_id: int
    schema_id: str
    payload: Mapping[str, Any]


ALL_RETAINED = -2


@dataclass(frozen=True)
class ReplayOutcome:
    read: int
    already_received: int
    put_back: tuple[str, ...]  # event uuids
    positions: Mapping[str, int]


def replay_missed(
    org_id: str,
    relay_source: str,
    event_names: Iterable[str],
    since_ms: int,
    *,
    ledger: RelayLedger,
    bus: EventBus,
    republisher: EventPublisher,
) -> ReplayOutcome:
    """Read back what the org's event bus still holds from the last event received before
    ``since_ms`` (all it retains, if none), and put on the bus, with the replay source, each
    event published since then that the gateway never received. Each is put back once; every
    stage deduplicates by event uuid besides, so a late relay delivery costs nothing."""
    since_ms -= since_ms % 1000  # CreatedDate has whole seconds: keep the whole first second
    positions = {}
    for name in event_names:
        checkpoint = ledger.checkpoint(org_id, name, since_ms)
        positions[name] = int(checkpoint) if checkpoint and checkpoint.isdigit() else ALL_RETAINED
    events = bus.read(positions)
    received = ledger.received_since(org_id, 0)
    source = relay_source.replace("aws.partner/", "sovgw.replay/", 1)
    put_back = []
    for event in sorted(events, key=lambda e: e.replay_id):
        if event.event_uuid in received or _published_ms(event) < since_ms:
            continue
        republisher.publish(
            source,
            event.name,
            {
                "payload": dict(event.payload),
                "schemaId": event.schema_id or "replayed",
                "id": event.event_uuid,
                "replayId": str(event.replay_id),
            },
        )
        put_back.append(event.event_uuid)
        received.add(event.event_uuid)
    already = sum(1 for e in events if e.event_uuid in received) - len(put_back)
    return ReplayOutcome(len(events), already, tuple(put_back), positions)


def _published_ms(event: BusEvent) -> int:
    created = str(event.payload.get("CreatedDate", ""))
    try:
        return int(datetime.fromisoformat(created.replace("+0000", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0  # unknown age: older than any window, so never put back blind
