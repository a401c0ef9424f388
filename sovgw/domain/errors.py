"""Domain exceptions. ``retryable`` is the single fact the edges use to retry or dead-letter."""

from __future__ import annotations


class GatewayError(Exception):
    """Base class; the message is safe to log and to store with a dead-lettered event."""

    retryable: bool = False


class RejectedInput(GatewayError):
    """The input can never succeed (malformed, unknown org, unknown purpose): dead-letter now."""


class UpstreamUnavailable(GatewayError):
    """A dependency failed in a way that may heal (timeout, 5xx, limits): retry later."""

    retryable = True


class UpstreamThrottled(UpstreamUnavailable):
    """An endpoint answered 429: another may take the request; the caller waits
    ``retry_after_s`` (the endpoint's Retry-After, when it said) if none can."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnexpectedFailure(GatewayError):
    """Stands in, where an invocation ends, for an exception that is not the gateway's own:
    its text may quote anything (a record value, a response body), so only its type is kept.
    Retried, as any failure of unknown kind is."""

    retryable = True


class SovereigntyViolation(GatewayError):
    """A call would have left the jurisdiction; raised before any data moves. Never retried."""


class UpstreamRefused(RejectedInput):
    """A model endpoint refused the request itself (HTTP 4xx): retrying or failing over will
    not help. Carries the endpoint's status and its OpenAI error ``code`` and ``param`` (never
    its message, which may quote the request)."""

    def __init__(
        self, message: str, status: int, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param
