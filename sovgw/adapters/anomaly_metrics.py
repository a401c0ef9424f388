"""Suspended principals as a CloudWatch metric (embedded metric format): the stack alarms on
``PrincipalsSuspended`` >= 1, and on missing data (a watcher that stopped running proves
nothing about the query log)."""

from __future__ import annotations

from sovgw.adapters.budget_metrics import publish_check_count

SUSPENDED_PRINCIPALS_METRIC = "PrincipalsSuspended"
ANOMALY_METRICS_SERVICE = "anomaly-watch"  # Powertools adds it as a dimension: alarms name it


def publish_suspended_principals(suspended: int, jurisdiction: str) -> None:
    publish_check_count(
        ANOMALY_METRICS_SERVICE, SUSPENDED_PRINCIPALS_METRIC, suspended, jurisdiction
    )
