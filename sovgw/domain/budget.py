"""Salesforce API budget: priority lanes, the emergency reserve, and what admission means.

An emergency legal or HR workflow must find Salesforce usable. So the org's daily API limit
and its concurrent requests are split by lane: ``ROUTINE`` (sync, batch) stops first,
``INTERACTIVE`` (a person waits) next, and the top ``reserve_fraction`` of the day and
``reserved_concurrent`` request slots are usable only by ``EMERGENCY`` (break-glass, legal
hold, DSAR deadline). Work refused for budget is deferred (it waits in its queue), never
dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from sovgw.domain.errors import UpstreamUnavailable


class Lane(StrEnum):
    EMERGENCY = "EMERGENCY"
    INTERACTIVE = "INTERACTIVE"
    ROUTINE = "ROUTINE"


@dataclass(frozen=True)
class BudgetPolicy:
    """Per-org shares; the defaults keep 10 % of the day and 3 slots for emergencies."""

    reserve_fraction: float = 0.10
    interactive_fraction: float = 0.05
    max_concurrent: int = 20
    reserved_concurrent: int = 3
    alert_fraction: float = 0.80
    slot_ttl_s: float = 120.0
    breaker_cooldown_s: float = 60.0
    breaker_max_cooldown_s: float = 3600.0
    # A grant's own expiry steps still run in the EMERGENCY lane this long after it ended.
    grant_grace_s: float = 3600.0

    def __post_init__(self) -> None:
        if not 0 < self.reserve_fraction < 1 or not 0 <= self.interactive_fraction < 1:
            raise ValueError("reserve and interactive fractions must lie in [0, 1)")
        if self.reserve_fraction + self.interactive_fraction >= 1:
            raise ValueError("reserve and interactive fractions leave nothing for routine work")
        if not 0 < self.reserved_concurrent < self.max_concurrent:
            raise ValueError("reserved_concurrent must be positive and below max_concurrent")

    def ceiling(self, lane: Lane, daily_limit: int) -> int:
        """How much of the day's limit ``lane`` may have used, counting its own call."""
        if lane is Lane.EMERGENCY:
            return daily_limit
        if lane is Lane.INTERACTIVE:
            return math.floor(daily_limit * (1 - self.reserve_fraction))
        return math.floor(daily_limit * (1 - self.reserve_fraction - self.interactive_fraction))

    @staticmethod
    def unlocked_by_grant(lane: Lane) -> bool:
        """EMERGENCY opens only for an active break-glass grant of the org, and is the one lane
        a tripped breaker does not close (the grant's work must still reach Salesforce)."""
        return lane is Lane.EMERGENCY

    def concurrency_cap(self, lane: Lane) -> int:
        if lane is Lane.EMERGENCY:
            return self.max_concurrent
        return self.max_concurrent - self.reserved_concurrent


@dataclass(frozen=True)
class Admission:
    """The store's answer to "may this lane make one more call now"."""

    allowed: bool
    reason: str
    lane: Lane
    used: int
    limit: int
    slot: str | None = None


class BudgetDeferred(UpstreamUnavailable):
    """The lane's share is spent or its breaker is open: the work waits in its queue and is
    retried later (retryable), it is not dropped."""
