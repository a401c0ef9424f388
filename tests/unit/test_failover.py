"""Circuit breakers and failover: only among allowed endpoints, never lose a request."""

from datetime import UTC, datetime

import pytest

from sovgw.adapters.upstreams import retry_after_seconds
from sovgw.config import ModelEndpoint, TrustTier
from sovgw.domain.errors import RejectedInput, UpstreamThrottled, UpstreamUnavailable
from sovgw.domain.failover import (
    BreakerBoard,
    BreakerState,
    CircuitBreaker,
    NoHealthyEndpoint,
    call_with_failover,
)

A = ModelEndpoint(name="a", region="eu-central-1", tier=TrustTier.SOVEREIGN)
B = ModelEndpoint(name="b", region="eu-central-1", tier=TrustTier.SOVEREIGN)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_then_probes_once_and_backs_off() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10, max_cooldown_s=25, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state.value == "open" and not breaker.allow()
    clock.now += 10
    assert breaker.allow() and breaker.state.value == "half_open"
    assert not breaker.allow(), "only one probe at a time"
    breaker.failure()
    assert breaker.current_cooldown_s == 20
    clock.now += 19
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()
    breaker.failure()
    assert breaker.current_cooldown_s == 25, "capped"
    clock.now += 25
    assert breaker.allow()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 0


def test_failover_moves_to_the_next_allowed_endpoint_and_skips_open_circuits() -> None:
    board = BreakerBoard(failure_threshold=1, cooldown_s=60, clock=Clock())
    calls: list[str] = []

    def call(endpoint: ModelEndpoint) -> str:
        calls.append(endpoint.name)
        if endpoint is A:
            raise UpstreamUnavailable("a: timeout")
        return f"answer from {endpoint.name}"

    assert call_with_failover((A, B), board, call) == (B, "answer from b")
    assert call_with_failover((A, B), board, call) == (B, "answer from b")
    assert calls == ["a", "b", "b"], "a's open circuit is not called again during its cooldown"
    assert board.states() == {A.ref: "open", B.ref: "closed"}


def test_no_healthy_endpoint_is_retryable_and_names_each_failure() -> None:
    board = BreakerBoard(failure_threshold=1, clock=Clock())

    def down(endpoint: ModelEndpoint) -> str:
        raise UpstreamUnavailable(f"{endpoint.name}: 503")

    with pytest.raises(NoHealthyEndpoint, match="a: 503; b: 503") as raised:
        call_with_failover((A, B), board, down)
    assert raised.value.retryable
    with pytest.raises(NoHealthyEndpoint, match="circuit open"):
        call_with_failover((A, B), board, down)
    with pytest.raises(NoHealthyEndpoint, match="no endpoint"):
        call_with_failover((), board, down)


def test_a_refused_request_is_not_failed_over() -> None:
    board = BreakerBoard(clock=Clock())
    calls: list[str] = []

    def refuse(endpoint: ModelEndpoint) -> str:
        calls.append(endpoint.name)
        raise RejectedInput("bad request")

    with pytest.raises(RejectedInput):
        call_with_failover((A, B), board, refuse)
    assert calls == ["a"]
    assert board.states() == {A.ref: "closed"}


def test_all_endpoints_throttling_is_a_throttle_with_the_shortest_wait() -> None:
    def throttled(endpoint: ModelEndpoint) -> str:
        raise UpstreamThrottled(f"{endpoint.name}: 429", 20.0 if endpoint is A else 7.0)

    board = BreakerBoard(failure_threshold=1, clock=Clock())
    for _ in range(3):  # a busy endpoint is alive: its circuit never opens
        with pytest.raises(NoHealthyEndpoint) as raised:
            call_with_failover((A, B), board, throttled)
        assert raised.value.throttled and raised.value.retry_after_s == 7.0
    assert all(state == "closed" for state in board.states().values())

    def mixed(endpoint: ModelEndpoint) -> str:
        if endpoint is A:
            raise UpstreamThrottled("a: 429", None)
        raise UpstreamUnavailable("b: 503")

    with pytest.raises(NoHealthyEndpoint) as raised:
        call_with_failover((A, B), BreakerBoard(clock=Clock()), mixed)
    assert not raised.value.throttled  # one endpoint is down, not busy: 503, not 429


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("7", 7.0),
        ("0", 1.0),  # at least a second
        ("99999", 3600.0),  # at most an hour
        ("Wed, 02 Dec 2026 10:00:30 GMT", 30.0),  # an HTTP-date (RFC 9110)
        ("soon", None),
    ],
)
def test_retry_after_is_read_as_rfc_9110_writes_it(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(header, now) == seconds
