"""Audit anchors in a real redis-server (the Valkey protocol): positions from one counter per
stream, never reused, whichever writer takes them; released anchors are gone."""

from __future__ import annotations

import threading

from sovgw.adapters.valkey_anchors import ValkeyAuditAnchors
from sovgw.local.valkey import LocalValkey


def test_concurrent_writers_get_every_position_once(valkey: LocalValkey) -> None:
    valkey.client().flushdb()
    anchors = [ValkeyAuditAnchors(valkey.client()) for _ in range(4)]
    taken: list[int] = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        for i in range(50):
            position = anchors[worker].append("eu-de/00D000000000001", f"r{worker}-{i}", "ab" * 32)
            with lock:
                taken.append(position)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(1, 201))
    read = anchors[0].after("eu-de/00D000000000001", 0)
    assert [a.position for a in read] == list(range(1, 201))
    assert {a.record_id for a in read} == {f"r{w}-{i}" for w in range(4) for i in range(50)}
    assert anchors[0].streams("eu-de") == {"eu-de/00D000000000001"}
    assert anchors[0].streams("eu-fr") == set()


def test_release_forgets_what_a_digest_holds_and_positions_go_on(valkey: LocalValkey) -> None:
    valkey.client().flushdb()
    anchors = ValkeyAuditAnchors(valkey.client())
    stream = "eu-de/00D000000000002"
    for i in range(3):
        anchors.append(stream, f"r{i}", "cd" * 32)
    anchors.release(stream, 2)
    assert [(a.position, a.record_id) for a in anchors.after(stream, 0)] == [(3, "r2")]
    assert anchors.append(stream, "r3", "cd" * 32) == 4
    assert [a.position for a in anchors.after(stream, 3)] == [4]
