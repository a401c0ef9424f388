"""Suspended principals as a CloudWatch metric (embedded metric format): the stack alarms on
``PrincipalsSuspended`` >= 1, and on missing data (a watcher that stopped running proves
nothing about the query log)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sovgw.adapters.budget_metrics import NAMESPACE

SUSPENDED_PRINCIPALS_METRIC = "PrincipalsSuspended"
ANOMALY_METRICS_SERVICE = "anomaly-watch"  # Powertools adds it as a dimension: alarms name it


def publish_suspended_principals(suspended: int, jurisdiction: str) -> None:
    metrics = Metrics(namespace=NAMESPACE, service=ANOMALY_METRICS_SERVICE)
    metrics.add_dimension(name="Jurisdiction", value=jurisdiction)
    metrics.add_metric(name=SUSPENDED_PRINCIPALS_METRIC, unit=MetricUnit.Count, value=suspended)
    metrics.flush_metrics()
