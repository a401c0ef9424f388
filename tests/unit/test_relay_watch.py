"""Relay gaps from heartbeats and feedback, and the replay that puts back only what never
arrived (domain logic with in-memory ports)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sovgw.domain.relay_watch import (
    ALL_RETAINED,
    BusEvent,
    RelayReceipt,
    relay_receipt,
    replay_missed,
    watch,
)
from tests.fakes import MemoryAudit, MemoryRelayLedger

ORG = "00D5E0000000001UAA"
SOURCE = f"aws.partner/salesforce.com/{ORG}/0YL5E0000000001AAA"
T0 = 1_796_000_000_000
T_10H = 1_796_119_200_000  # 2026-12-01T10:00:00Z
PERIOD = 60


class Beats:
    def __init__(self, ledger: MemoryRelayLedger, delivering: bool = True) -> None:
        self.ledger, self.delivering, self.sent = ledger, delivering, 0

    def publish_heartbeat(self, org_id: str, beat_id: str, sent_ms: int) -> None:
        self.sent += 1
        if self.delivering:
            self.ledger.heartbeat(org_id, sent_ms)


def test_a_gap_opens_within_two_periods_of_the_last_heartbeat_and_closes_once() -> None:
    ledger, audit = MemoryRelayLedger(), MemoryAudit()
    beats = Beats(ledger)

    def period(k: int, code: str | None = None) -> list[str]:
        now = T0 + k * PERIOD * 1000
        [check] = watch([ORG], now, PERIOD, ledger, beats, audit, "eu-de", {ORG: code})
        return list(check.reasons)

    assert period(0) == [] and period(1) == []
    beats.delivering = False  # the heartbeat of period 1 was the last to arrive
    assert period(2) == [], "one period late is normal"
    assert period(3) == ["heartbeat_missing"], "two periods: a gap"
    assert period(4, code="RELAY_X") == ["heartbeat_missing", "relay_error:RELAY_X"]
    beats.delivering = True
    period(5)  # its heartbeat arrives after the check
    assert period(6) == []
    reasons = [r.reason or "" for r in audit.records.values()]
    assert len(reasons) == 2, "one record when it opens, one when it closes"
    assert reasons[0].startswith("relay gap opened") and reasons[1].startswith("relay gap closed")
    assert beats.sent == 7


def test_a_relay_error_alone_is_a_gap_at_once() -> None:
    ledger = MemoryRelayLedger()
    [check] = watch([ORG], T0, PERIOD, ledger, Beats(ledger), MemoryAudit(), "eu-de", {ORG: "E"})
    assert check.gap and check.opened and check.reasons == ("relay_error:E",)


def _envelope(
    uuid: str, created: str = "2026-12-01T10:00:05.000+0000", **extra: Any
) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "detail-type": "AI_Request__e",
        "detail": {"id": uuid, "replayId": "17", "payload": {"CreatedDate": created}, **extra},
    }


def test_a_receipt_is_taken_only_from_a_well_formed_relayed_event() -> None:
    uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    receipt = relay_receipt(_envelope(uuid))
    assert receipt == RelayReceipt(ORG, "AI_Request__e", uuid, "17", T_10H + 5000)
    replayed = {**_envelope(uuid), "source": SOURCE.replace("aws.partner", "sovgw.replay")}
    assert relay_receipt(replayed) == receipt
    assert relay_receipt({**_envelope(uuid), "source": "sovgw.classify"}) is None
    assert relay_receipt(_envelope("not-a-uuid")) is None
    assert relay_receipt(_envelope(uuid, created="yesterday")) is None


class Bus:
    def __init__(self, events: list[BusEvent]) -> None:
        self.events = events
        self.asked: list[Mapping[str, int]] = []

    def read(self, positions: Mapping[str, int]) -> list[BusEvent]:
        self.asked.append(dict(positions))
        return self.events


class Republisher:
    def __init__(self) -> None:
        self.put: list[tuple[str, str, Mapping[str, Any]]] = []

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> str:
        self.put.append((source, detail_type, detail))
        return f"evt-{len(self.put)}"


def _bus_event(n: int, second: int) -> BusEvent:
    return BusEvent(
        "AI_Request__e",
        f"00000000-0000-4000-8000-{n:012d}",
        100 + 3 * n,
        "schema-1",
        {"CreatedDate": f"2026-12-01T10:00:{second:02d}.000+0000"},
    )


def test_replay_starts_after_the_last_receipt_before_since_and_puts_back_only_the_missed() -> None:
    ledger = MemoryRelayLedger()
    events = [_bus_event(n, second=n) for n in range(10)]
    for n, event in enumerate(events):
        if n not in {6, 7}:  # these two never arrived
            receipt = RelayReceipt(
                ORG, event.name, event.event_uuid, str(event.replay_id), T_10H + 1000 * n
            )
            ledger.received(ORG, receipt)
    bus, republisher = Bus(events), Republisher()
    since = T_10H + 5_500  # within second 5: the whole second counts
    outcome = replay_missed(
        ORG, SOURCE, ["AI_Request__e", "Break_Glass_Request__e"], since,
        ledger=ledger, bus=bus, republisher=republisher,
    )  # fmt: skip
    assert bus.asked == [{"AI_Request__e": 100 + 3 * 4, "Break_Glass_Request__e": ALL_RETAINED}]
    assert [d["id"] for _, _, d in republisher.put] == [events[6].event_uuid, events[7].event_uuid]
    assert {s for s, _, _ in republisher.put} == {SOURCE.replace("aws.partner/", "sovgw.replay/")}
    assert outcome.put_back == (events[6].event_uuid, events[7].event_uuid)
    again = replay_missed(
        ORG, SOURCE, ["AI_Request__e"], since, ledger=ledger, bus=bus, republisher=Republisher()
    )
    assert again.put_back == (events[6].event_uuid, events[7].event_uuid), (
        "the ledger learns of a put-back event only when a function receives it"
    )
