"""Circuit breakers per model endpoint, and failover among the endpoints a decision allows.

Failover never widens a decision: it only walks ``RouteDecision.endpoints``, which the
residency invariants already filtered. When no candidate is healthy the call fails with
``NoHealthyEndpoint`` (retryable), so the event stays in its queue instead of being lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from sovgw.config import ModelEndpoint
from sovgw.domain.errors import UpstreamThrottled, UpstreamUnavailable

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class NoHealthyEndpoint(UpstreamUnavailable):
    """Every endpoint the policy allows is failing or open: retry later, never elsewhere.
    ``throttled`` when each one called answered 429, with the shortest wait one named."""

    def __init__(
        self, message: str, throttled: bool = False, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.throttled = throttled
        self.retry_after_s = retry_after_s


@dataclass
class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures; after ``cooldown_s`` lets one
    probe through (half-open); a failed probe doubles the cooldown up to ``max_cooldown_s``."""

    failure_threshold: int = 3
    cooldown_s: float = 30.0
    max_cooldown_s: float = 300.0
    clock: Clock = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    current_cooldown_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def allow(self) -> bool:
        """Whether a call may be attempted now (in half-open, only one at a time)."""
        with self._lock:
            if self.state is BreakerState.CLOSED:
                return True
            if self.state is BreakerState.OPEN:
                if self.clock() - self.opened_at >= self.current_cooldown_s:
                    self.state = BreakerState.HALF_OPEN
                    return True
                return False
            return False  # a probe is already in flight

    def success(self) -> None:
        with self._lock:
            self.state = BreakerState.CLOSED
            self.failures = 0
            self.current_cooldown_s = 0.0

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.state is BreakerState.HALF_OPEN:
                self.current_cooldown_s = min(self.current_cooldown_s * 2, self.max_cooldown_s)
            elif self.failures >= self.failure_threshold:
                self.current_cooldown_s = self.cooldown_s
            else:
                return
            self.state = BreakerState.OPEN
            self.opened_at = self.clock()


@dataclass
class BreakerBoard:
    """One breaker per endpoint, created on first use (per process: a Lambda container or a
    proxy instance; each judges the endpoints it can reach itself)."""

    failure_threshold: int = 3
    cooldown_s: float = 30.0
    clock: Clock = time.monotonic
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def for_endpoint(self, endpoint: ModelEndpoint) -> CircuitBreaker:
        with self._lock:
            breaker = self.breakers.get(endpoint.ref)
            if breaker is None:
                breaker = CircuitBreaker(
                    failure_threshold=self.failure_threshold,
                    cooldown_s=self.cooldown_s,
                    clock=self.clock,
                )
                self.breakers[endpoint.ref] = breaker
            return breaker

    def states(self) -> dict[str, str]:
        with self._lock:
            return {ref: b.state.value for ref, b in self.breakers.items()}


class _Attempts:
    """The bookkeeping of one failover walk, shared by the blocking and the awaited call."""

    def __init__(self, endpoints: tuple[ModelEndpoint, ...], board: BreakerBoard) -> None:
        self._endpoints = endpoints
        self._board = board
        self._failures: list[str] = []
        self._throttles: list[UpstreamThrottled] = []
        self._called = 0

    def __iter__(self) -> Iterator[tuple[ModelEndpoint, CircuitBreaker]]:
        """The endpoints whose breaker allows a call now, in order."""
        for endpoint in self._endpoints:
            breaker = self._board.for_endpoint(endpoint)
            if not breaker.allow():
                self._failures.append(f"{endpoint.ref}: circuit {breaker.state}")
                continue
            self._called += 1
            yield endpoint, breaker

    def failed(self, breaker: CircuitBreaker, error: UpstreamUnavailable) -> None:
        """Record a failure worth trying elsewhere."""
        if isinstance(error, UpstreamThrottled):
            # A busy endpoint is alive: its circuit stays closed, so the next caller is told
            # how long to wait (429), not that nothing works (503).
            breaker.success()
            self._throttles.append(error)
        else:
            breaker.failure()
        self._failures.append(str(error))

    def exhausted(self) -> NoHealthyEndpoint:
        waits = [t.retry_after_s for t in self._throttles if t.retry_after_s is not None]
        return NoHealthyEndpoint(
            "no healthy endpoint among those the policy allows: " + "; ".join(self._failures)
            if self._failures
            else "no endpoint to call",
            throttled=self._called > 0 and len(self._throttles) == self._called,
            retry_after_s=min(waits) if waits else None,
        )


def call_with_failover[T](
    endpoints: tuple[ModelEndpoint, ...],
    board: BreakerBoard,
    call: Callable[[ModelEndpoint], T],
) -> tuple[ModelEndpoint, T]:
    """Call the first endpoint whose breaker allows it and that answers; record each outcome.

    Only ``UpstreamUnavailable`` moves on to the next endpoint; any other error (a refused
    request, a sovereignty violation) is the answer and propagates at once. A throttled
    endpoint (429) is tried past too, but does not count against its circuit.
    """
    attempts = _Attempts(endpoints, board)
    for endpoint, breaker in attempts:
        try:
            result = call(endpoint)
        except UpstreamUnavailable as error:
            attempts.failed(breaker, error)
            continue
        except Exception:
            breaker.success()  # the endpoint answered; the request was at fault
            raise
        breaker.success()
        return endpoint, result
    raise attempts.exhausted()


async def call_with_failover_async[T](
    endpoints: tuple[ModelEndpoint, ...],
    board: BreakerBoard,
    call: Callable[[ModelEndpoint], Awaitable[T]],
) -> tuple[ModelEndpoint, T]:
    """``call_with_failover`` for a call that is awaited."""
    attempts = _Attempts(endpoints, board)
    for endpoint, breaker in attempts:
        try:
            result = await call(endpoint)
        except UpstreamUnavailable as error:
            attempts.failed(breaker, error)
            continue
        except Exception:
            breaker.success()
            raise
        breaker.success()
        return endpoint, result
    raise attempts.exhausted()
