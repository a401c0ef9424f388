"""anomaly_watch: on its schedule (every 15 minutes in AWS), each ended hour of the live query
log goes through the detector; a flag is an audit record and the suspension of the
principal's non-emergency lanes in its org, and the suspended principals are the metric the
stack alarms on. Logged by org, principal, object and kind (never a value)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.anomaly import anomaly_store, watch_anomalies
from sovgw.app.bootstrap import Dependencies, Settings, dependencies_from_env
from sovgw.app.invocation import logger, run_handler
from sovgw.contracts import ScheduledEvent, parse_event

FUNCTION = "anomaly_watch"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    parse_event(ScheduledEvent, event)
    now = datetime.fromtimestamp(deps.clock_ms() / 1000, UTC)
    datasets = Settings.from_env().config_path.parent / "datasets"
    run = watch_anomalies(
        anomaly_store(deps), deps.audit, deps.config, deps.jurisdiction, now=now, datasets=datasets
    )
    for flag, record_id in run.flags:
        logger.warning(
            "query-log anomaly flagged",
            org_id=flag.org_id,
            principal=flag.principal,
            sobject=flag.sobject,
            kind=flag.kind,
            audit_record=record_id,
        )
    return {
        "status": "busy" if run.busy else "watched",
        "hours_closed": len(run.closed),
        "flags": [f"{flag.org_id}:{flag.principal}:{flag.kind}" for flag, _ in run.flags],
        "suspended": run.suspended,
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
