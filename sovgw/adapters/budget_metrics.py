"""The org's API budget as CloudWatch metrics (Powertools Metrics, embedded metric format).

Alarms on these (``ApiUsedPercent`` >= 80, ``BreakerOpen`` >= 1, ``EmergencyReserveLeft`` low)
warn an operator before an org runs out of API calls, long before anyone is locked out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = "sovgw"
BUDGET_METRICS_SERVICE = "salesforce-budget"  # Powertools adds it as a dimension: alarms name it


def publish_check_count(service: str, metric: str, value: int, jurisdiction: str) -> None:
    """One count of a scheduled check for the jurisdiction (its alarm names ``service``: it
    is a dimension Powertools adds)."""
    metrics = Metrics(namespace=NAMESPACE, service=service)
    metrics.add_dimension(name="Jurisdiction", value=jurisdiction)
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()


def publish_budget_metrics(
    health: Mapping[str, Any], jurisdiction: str, metrics: Metrics | None = None
) -> None:
    """Write one EMF document for the org (stdout: Lambda ships it to CloudWatch)."""
    metrics = metrics or Metrics(namespace=NAMESPACE, service=BUDGET_METRICS_SERVICE)
    metrics.add_dimension(name="Jurisdiction", value=jurisdiction)
    metrics.add_dimension(name="OrgId", value=str(health["org_id"])[:15])
    metrics.add_metric(name="ApiUsed", unit=MetricUnit.Count, value=health["used"])
    metrics.add_metric(name="ApiLimit", unit=MetricUnit.Count, value=health["limit"])
    metrics.add_metric(
        name="ApiUsedPercent", unit=MetricUnit.Percent, value=100 * health["used_fraction"]
    )
    metrics.add_metric(
        name="EmergencyReserveLeft",
        unit=MetricUnit.Count,
        value=health["emergency_reserve_left"],
    )
    metrics.add_metric(name="InFlightRequests", unit=MetricUnit.Count, value=health["in_flight"])
    metrics.add_metric(
        name="BreakerOpen", unit=MetricUnit.Count, value=int(health["breaker"] != "closed")
    )
    metrics.add_metric(
        name="RefusedCredentials",
        unit=MetricUnit.Count,
        value=len(health["refused_credentials"]),
    )
    metrics.flush_metrics()


class ThrottledPublisher:
    """Publish an org's budget at most every ``interval_s`` per process."""

    def __init__(
        self,
        health: Callable[[str], Mapping[str, Any]],
        jurisdiction: str,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._health = health
        self._jurisdiction = jurisdiction
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, org_id: str) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last.get(org_id, -self._interval_s) < self._interval_s:
                return
            self._last[org_id] = now
        publish_budget_metrics(self._health(org_id), self._jurisdiction)
