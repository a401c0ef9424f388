"""Event routes, declared once: the Pulumi program and the local runner both read this.

A route is an EventBridge rule (pattern) with one target function, its retry policy and its
dead-letter queue. Salesforce events that no route claims go to ``unrouted``, which
dead-letters them with the reason, so nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sovgw.contracts import CLASSIFY_SOURCE, SALESFORCE_SOURCE_PREFIX


@dataclass(frozen=True)
class RetryPolicy:
    """EventBridge target retries (production) and SQS receives before dead-lettering (local)."""

    maximum_retry_attempts: int = 185
    maximum_event_age_seconds: int = 86_400
    local_max_receives: int = 4


@dataclass(frozen=True)
class Function:
    """A Lambda function: its handler and the settings the stack gives it."""

    name: str
    handler: str
    timeout_seconds: int = 60
    memory_mb: int = 512
    reserved_concurrency: int = 10


@dataclass(frozen=True)
class Route:
    rule: str
    function: str
    pattern: dict[str, Any]
    retry: RetryPolicy = field(default_factory=RetryPolicy)


# Set on every function: pydantic skips its scan of installed packages for plugins (none are
# used), which costs each cold start several milliseconds.
RUNTIME_ENVIRONMENT = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}

FUNCTIONS: tuple[Function, ...] = (
    Function("classify", "functions.classify.handler.lambda_handler"),
    Function("route", "functions.route.handler.lambda_handler", timeout_seconds=120),
    Function("unrouted", "functions.unrouted.handler.lambda_handler", memory_mb=256),
    Function("break_glass", "functions.break_glass.handler.lambda_handler", timeout_seconds=300),
    Function(
        "seal", "functions.seal.handler.lambda_handler", timeout_seconds=300, reserved_concurrency=1
    ),
)
# Functions that also run on a schedule (rule on the default bus): function → expression.
SCHEDULES = {"seal": "rate(1 hour)", "break_glass": "rate(1 minute)"}

BREAK_GLASS_EVENTS = ("Break_Glass_Request__e", "Break_Glass_Approval__e")
ROUTED_SALESFORCE_EVENTS = ("AI_Request__e", *BREAK_GLASS_EVENTS)

ROUTES: tuple[Route, ...] = (
    Route(
        "salesforce-ai-request",
        "classify",
        {"source": [{"prefix": SALESFORCE_SOURCE_PREFIX}], "detail-type": ["AI_Request__e"]},
    ),
    Route(
        "request-classified",
        "route",
        {"source": [CLASSIFY_SOURCE], "detail-type": ["RequestClassified"]},
    ),
    Route(
        "salesforce-break-glass",
        "break_glass",
        {
            "source": [{"prefix": SALESFORCE_SOURCE_PREFIX}],
            "detail-type": list(BREAK_GLASS_EVENTS),
        },
        # A decision is not worth retrying for long: refused input is dead-lettered at once,
        # a store or Salesforce outage is retried a few times.
        RetryPolicy(maximum_retry_attempts=10, maximum_event_age_seconds=900),
    ),
    Route(
        "salesforce-unrouted",
        "unrouted",
        {
            "source": [{"prefix": SALESFORCE_SOURCE_PREFIX}],
            "detail-type": [{"anything-but": list(ROUTED_SALESFORCE_EVENTS)}],
        },
        RetryPolicy(local_max_receives=1),
    ),
)


def function(name: str) -> Function:
    return next(f for f in FUNCTIONS if f.name == name)


def rule_name(jurisdiction: str, route: Route) -> str:
    return f"sovgw-{jurisdiction}-{route.rule}"


def queue_name(jurisdiction: str, function_name: str) -> str:
    """The local runner's delivery queue for a function (EventBridge → SQS → in-process)."""
    return f"sovgw-{jurisdiction}-{function_name}"


def dead_letter_queue_name(jurisdiction: str, function_name: str) -> str:
    """Where a function's failed or rejected events land, with the reason (both environments)."""
    return f"sovgw-{jurisdiction}-{function_name}-dlq"
