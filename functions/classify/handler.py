"""classify: an ``AI_Request__e`` from Salesforce → minimised, classified request on the bus."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.invocation import logger, run_handler
from sovgw.contracts import CLASSIFY_SOURCE, AIRequestEvent, parse_event
from sovgw.domain.pipeline import classify_request, resolve_jurisdiction
from sovgw.domain.requests import AIRequest

FUNCTION = "classify"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    parsed = parse_event(AIRequestEvent, event)
    payload = parsed.detail.payload
    jurisdiction = resolve_jurisdiction(deps.config, parsed.org_id, deps.jurisdiction)
    request = AIRequest(
        org_id=parsed.org_id,
        event_uuid=parsed.detail.id,
        replay_id=parsed.detail.replayId,
        eventbridge_event_id=parsed.id,
        record_id=payload.Record_Id__c,
        purpose=payload.Purpose__c,
        requested_by=payload.Requested_By__c,
    )
    classified = classify_request(
        request, jurisdiction, deps.crm_for(parsed.org_id), deps.audit, deps.vault
    )
    event_id = deps.publisher.publish(
        CLASSIFY_SOURCE, "RequestClassified", classified.model_dump(mode="json")
    )
    logger.info("classified", level=classified.level.value, entity_counts=classified.entity_counts)
    return {"status": "classified", "level": classified.level.value, "event_id": event_id}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
