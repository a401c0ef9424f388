"""Where query-log entries go: CloudWatch metrics (Powertools Metrics, embedded metric
format), the audit trail, and the anomaly watcher's live feed.

Each Salesforce call is one EMF document: the counts are metrics by jurisdiction, org, lane
and principal (what volume alarms and baselines read), and the rest of the entry rides along
as metadata, so CloudWatch Logs Insights can list the calls behind a spike. In the audit
trail it is a ``salesforce_call`` record, sealed with the others.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import redis
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sovgw.adapters.budget_metrics import NAMESPACE
from sovgw.domain.anomaly import observation_of
from sovgw.domain.audit import salesforce_call_record
from sovgw.domain.query_log import SalesforceCall
from sovgw.logs import make_logger
from sovgw.ports import AnomalyStore, AuditSink, QueryLog

logger = make_logger()

QUERY_LOG_SERVICE = "salesforce-query-log"


class EmfQueryLog:
    """``QueryLog`` to stdout as EMF (Lambda ships it to CloudWatch)."""

    def __init__(self, jurisdiction: str) -> None:
        self.jurisdiction = jurisdiction

    def record(self, call: SalesforceCall) -> None:
        metrics = Metrics(namespace=NAMESPACE, service=QUERY_LOG_SERVICE)
        metrics.add_dimension(name="Jurisdiction", value=self.jurisdiction)
        metrics.add_dimension(name="OrgId", value=(call.org_id or "unknown")[:15])
        metrics.add_dimension(name="Lane", value=call.lane)
        metrics.add_dimension(name="Principal", value=call.principal)
        metrics.add_metric(name="SalesforceCalls", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="RowsReturned", unit=MetricUnit.Count, value=call.rows or 0)
        metrics.add_metric(name="ResponseBytes", unit=MetricUnit.Bytes, value=call.bytes)
        metrics.add_metric(name="CallLatency", unit=MetricUnit.Milliseconds, value=call.latency_ms)
        for key, value in call.as_dict().items():
            if key not in {"org_id", "lane", "principal", "rows", "bytes", "latency_ms"}:
                metrics.add_metadata(key=key, value=value)
        metrics.flush_metrics()


class AuditQueryLog:
    """``QueryLog`` into the audit trail: one ``salesforce_call`` record per call."""

    def __init__(self, audit: AuditSink, jurisdiction: str) -> None:
        self.audit = audit
        self.jurisdiction = jurisdiction

    def record(self, call: SalesforceCall) -> None:
        self.audit.write(salesforce_call_record(call, self.jurisdiction))


class AnomalyFeed:
    """``QueryLog`` into the anomaly watcher's live feed: each read of records, as it
    happens. A store that cannot take it costs detection one observation, never the call
    (the legal or HR work it serves goes on); the failure is logged without values."""

    def __init__(
        self,
        store: AnomalyStore,
        jurisdiction: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.jurisdiction = jurisdiction
        self.clock = clock

    def record(self, call: SalesforceCall) -> None:
        seen = observation_of(call, self.clock())
        if seen is None:
            return
        try:
            self.store.observe(self.jurisdiction, seen)
        except redis.RedisError as error:
            logger.warning("anomaly feed missed a read", error=type(error).__name__)


class QueryLogs:
    """Every entry to each of ``logs``."""

    def __init__(self, *logs: QueryLog) -> None:
        self.logs = logs

    def record(self, call: SalesforceCall) -> None:
        for log in self.logs:
            log.record(call)
