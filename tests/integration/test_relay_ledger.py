"""The relay ledger in a real redis-server: the same answers as the in-memory ledger the
domain tests use, out-of-order heartbeats, a gap that keeps its start, and the replay window."""

from __future__ import annotations

from sovgw.adapters.valkey_relay import ValkeyRelayLedger
from sovgw.domain.relay_watch import LEDGER_TTL_HOURS, RelayReceipt
from sovgw.local.valkey import LocalValkey
from sovgw.ports import RelayLedger
from tests.fakes import MemoryRelayLedger

ORG = "00D5E0000000001UAA"
HOUR_MS = 3_600_000


def _receipt(n: int, at_ms: int, name: str = "AI_Request__e") -> RelayReceipt:
    return RelayReceipt(ORG, name, f"00000000-0000-4000-8000-{n:012d}", str(1000 + n), at_ms)


def test_the_valkey_ledger_answers_as_the_memory_ledger(valkey: LocalValkey) -> None:
    valkey.client().flushdb()
    ledgers: list[RelayLedger] = [ValkeyRelayLedger(valkey.client()), MemoryRelayLedger()]
    for ledger in ledgers:
        for n, at in enumerate([10_000, 20_000, 20_000, 30_000, 40_000]):
            ledger.received(
                ORG, _receipt(n, at, "Break_Glass_Request__e" if n == 3 else "AI_Request__e")
            )
        ledger.received(ORG, _receipt(1, 20_000))  # delivered twice
        for sent in (5_000, 9_000, 7_000):  # out of order
            ledger.heartbeat(ORG, sent)
    answers = [
        (
            ledger.received_since(ORG, 20_000),
            ledger.checkpoint(ORG, "AI_Request__e", 40_000),
            ledger.checkpoint(ORG, "Break_Glass_Request__e", 40_000),
            ledger.checkpoint(ORG, "AI_Request__e", 10_000),
            ledger.last_heartbeat(ORG),
            ledger.watching_since(ORG, 1),
            ledger.watching_since(ORG, 2),
            ledger.set_gap(ORG, 100),
            ledger.set_gap(ORG, 200),
            ledger.set_gap(ORG, None),
            ledger.set_gap(ORG, None),
        )
        for ledger in ledgers
    ]
    assert answers[0] == answers[1]
    since, checkpoint, other, none, beat, first, second, *gaps = answers[0]
    assert len(since) == 4 and checkpoint == "1002" and other == "1003" and none is None
    assert beat == 9_000 and first == second == 1
    assert gaps == [None, 100, 100, None], "an open gap keeps the start it opened with"


def test_events_older_than_the_replay_window_are_dropped(valkey: LocalValkey) -> None:
    valkey.client().flushdb()
    ledger = ValkeyRelayLedger(valkey.client())
    ledger.received(ORG, _receipt(1, 0))
    ledger.received(ORG, _receipt(2, (LEDGER_TTL_HOURS + 1) * HOUR_MS))
    assert ledger.received_since(ORG, 0) == {_receipt(2, 0).event_uuid}
