"""Each org's relay health as CloudWatch metrics (embedded metric format, one document per org
and period). The stack alarms on ``RelayGap`` >= 1 and on missing data: a watcher that stopped
reporting is as much a gap as a relay that stopped delivering."""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sovgw.adapters.budget_metrics import NAMESPACE
from sovgw.domain.relay_watch import RelayCheck

RELAY_GAP_METRIC = "RelayGap"
RELAY_LAG_METRIC = "RelayLagSeconds"
RELAY_METRICS_SERVICE = "relay-watch"  # Powertools adds it as a dimension: alarms must name it


def publish_relay_metrics(checks: Iterable[RelayCheck], jurisdiction: str) -> None:
    for check in checks:
        metrics = Metrics(namespace=NAMESPACE, service=RELAY_METRICS_SERVICE)
        metrics.add_dimension(name="Jurisdiction", value=jurisdiction)
        metrics.add_dimension(name="OrgId", value=check.org_id[:15])
        metrics.add_metric(name=RELAY_GAP_METRIC, unit=MetricUnit.Count, value=int(check.gap))
        metrics.add_metric(name=RELAY_LAG_METRIC, unit=MetricUnit.Seconds, value=check.lag_s)
        metrics.flush_metrics()
