"""One request's CPU-bound pipeline work at a time in a proxy process.

Why: the parts of the pipeline that run on pool threads (streams, SageMaker calls, large
bodies) share one GIL with each other and with the event loop. With eight requests in flight
on threads, every call that releases the GIL (an RE2 set pass, a socket or file call) handed
the interpreter to another runnable thread and back: 77 context switches per request against
5 at one client, and 40 % more CPU per request (``benchmarks/proxy``). Behind this lock the
threads that wait sleep on it until the work in front of them is done, and a GIL release finds
no other pipeline thread to wake. Nothing that waits on I/O (the upstream, the audit store) is
ever held behind it. The event loop takes it too when it scans, for as long as a small scan.

A large piece of work runs outside the gate: a contract of several megabytes scanned behind
the lock would hold every small request for its whole scan, where the GIL gives them their
turn every few milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Characters; at about 3 MB/s of scanning, the longest any request waits behind another.
SOLO_LIMIT_CHARS = 65_536


class ComputeGate:
    """A lock for the pipeline's CPU sections; work over ``solo_limit`` characters skips it."""

    def __init__(self, solo_limit: int = SOLO_LIMIT_CHARS) -> None:
        self.solo_limit = solo_limit
        self._lock = threading.Lock()

    @contextmanager
    def held(self, size: int) -> Iterator[None]:
        """The gate for work on ``size`` characters (or bytes): taken unless the work is
        large, released when the block ends."""
        if size > self.solo_limit:
            yield
            return
        with self._lock:
            yield

    def busy(self) -> bool:
        """Whether some thread holds the gate now."""
        return self._lock.locked()
