"""Incident clocks as a CloudWatch metric (embedded metric format): the stack alarms on
``IncidentClocksAtRisk`` >= 1, and on missing data (a check that stopped running proves
nothing about the clocks)."""

from __future__ import annotations

from sovgw.adapters.budget_metrics import publish_check_count

INCIDENT_CLOCKS_METRIC = "IncidentClocksAtRisk"
INCIDENT_METRICS_SERVICE = "incident-clock"  # Powertools adds it as a dimension: alarms name it


def publish_incident_clocks(at_risk: int, jurisdiction: str) -> None:
    publish_check_count(INCIDENT_METRICS_SERVICE, INCIDENT_CLOCKS_METRIC, at_risk, jurisdiction)
