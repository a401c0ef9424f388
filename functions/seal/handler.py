"""seal: on its schedule (hourly in AWS), sign a digest over every unsealed audit record of each
org's stream in this jurisdiction; a stream with nothing new gets an empty (heartbeat) digest,
so a missing period or a cut tail shows by time (``sovgw audit verify --max-age-minutes``); and
the jurisdiction's manifest records every stream's head, so a vanished stream shows too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.invocation import logger, run_handler
from sovgw.audit_tools import open_store
from sovgw.contracts import ScheduledEvent, parse_event

FUNCTION = "seal"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    parse_event(ScheduledEvent, event)
    store = open_store(deps.jurisdiction, deps.audit_anchors)
    digests, manifest = store.seal_jurisdiction(deps.jurisdiction.id, heartbeat=True)
    sealed = {stream: len(d.entries) for stream, d in digests.items() if d and d.entries}
    heartbeats = sum(1 for d in digests.values() if d is not None and not d.entries)
    logger.info(
        "sealed",
        streams=len(sealed),
        records=sum(sealed.values()),
        heartbeats=heartbeats,
        manifest=manifest.sequence,
    )
    return {
        "status": "sealed",
        "sealed": sealed,
        "heartbeats": heartbeats,
        "manifest": manifest.sequence,
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
