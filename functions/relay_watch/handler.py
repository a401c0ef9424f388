"""relay_watch: each period (``rate(1 minute)``), check every org's Event Relay for a gap (the
newest heartbeat too old, or the relay's feedback in ERROR), record gap transitions and metrics,
and publish the next heartbeat; and, routed from the relay, note each heartbeat's arrival."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.invocation import logger, run_handler
from sovgw.app.relay_watch import relay_ledger, watch_period
from sovgw.contracts import HeartbeatEvent, ScheduledEvent, parse_event
from sovgw.wiring import HEARTBEAT_EVENT

FUNCTION = "relay_watch"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    if event.get("detail-type") == HEARTBEAT_EVENT:
        beat = parse_event(HeartbeatEvent, event)
        sent_ms = int(beat.detail.payload.Sent_At__c.timestamp() * 1000)
        relay_ledger(deps).heartbeat(beat.org_id, sent_ms)
        return {"status": "heartbeat", "org": beat.org_id, "lag_ms": deps.clock_ms() - sent_ms}
    parse_event(ScheduledEvent, event)
    return watch_period(deps)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
