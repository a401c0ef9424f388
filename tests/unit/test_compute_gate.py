"""The proxy's compute gate: one small piece of work at a time, large work never behind it."""

from __future__ import annotations

import threading

from sovgw.proxy.compute import ComputeGate


def _finishes_while_held(gate: ComputeGate, size: int) -> bool:
    """Whether work on ``size`` characters gets through while another thread holds the gate."""
    done = threading.Event()

    def work() -> None:
        with gate.held(size):
            done.set()

    with gate.held(0):
        worker = threading.Thread(target=work)
        worker.start()
        finished = done.wait(0.3)
    worker.join(timeout=10)
    assert done.is_set()  # it always gets through once the gate is free
    return finished


def test_small_work_waits_for_the_holder() -> None:
    gate = ComputeGate(solo_limit=100)
    assert not _finishes_while_held(gate, 100)


def test_large_work_never_waits_behind_the_gate() -> None:
    gate = ComputeGate(solo_limit=100)
    assert _finishes_while_held(gate, 101)


def test_busy_says_whether_the_gate_is_held() -> None:
    gate = ComputeGate()
    assert not gate.busy()
    with gate.held(0):
        assert gate.busy()
    assert not gate.busy()
