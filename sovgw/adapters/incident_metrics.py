"""Incident clocks as a CloudWatch metric (embedded metric format): the stack alarms on
``IncidentClocksAtRisk`` >= 1, and on missing data (a check that stopped running proves
nothing about the clocks)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sovgw.adapters.budget_metrics import NAMESPACE

INCIDENT_CLOCKS_METRIC = "IncidentClocksAtRisk"
INCIDENT_METRICS_SERVICE = "incident-clock"  # Powertools adds it as a dimension: alarms name it


def publish_incident_clocks(at_risk: int, jurisdiction: str) -> None:
    metrics = Metrics(namespace=NAMESPACE, service=INCIDENT_METRICS_SERVICE)
    metrics.add_dimension(name="Jurisdiction", value=jurisdiction)
    metrics.add_metric(name=INCIDENT_CLOCKS_METRIC, unit=MetricUnit.Count, value=at_risk)
    metrics.flush_metrics()
