"""break_glass: requests and approvals from Salesforce, the one-time expiry schedule, and the
sweeper tick; thin over ``sovgw.domain.break_glass``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.break_glass import break_glass_service
from sovgw.app.invocation import logger, run_handler
from sovgw.contracts import BreakGlassApprovalEvent, BreakGlassRequestEvent, parse_event
from sovgw.domain.break_glass import BreakGlassRequest

FUNCTION = "break_glass"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    service = break_glass_service(deps)
    if event.get("action") == "expire":  # the one-time schedule's input
        grant = service.expire(str(event["org_id"]), str(event["request_id"]))
        return {"status": grant.status.value}
    detail_type = event.get("detail-type")
    if detail_type == "Scheduled Event":
        return {"expired": service.sweep()}
    if detail_type == "Break_Glass_Request__e":
        parsed = parse_event(BreakGlassRequestEvent, event)
        payload = parsed.detail.payload
        record = service.request(
            BreakGlassRequest(
                request_id=parsed.detail.id,
                org_id=parsed.org_id,
                jurisdiction=deps.jurisdiction.id,
                requested_by=payload.CreatedById,
                target_user=payload.Target_User_Id__c,
                reason=payload.Reason__c,
                case_reference=payload.Case_Reference__c,
                scope=payload.Scope__c,
                duration_s=payload.Duration_Minutes__c * 60,
            )
        )
        return {"status": record.status.value, "request_id": record.request_id}
    approval = parse_event(BreakGlassApprovalEvent, event)
    decision = approval.detail.payload
    if decision.Decision__c == "Rejected":
        record = service.deny(approval.org_id, decision.Request_Id__c, by=decision.Approver_Id__c)
    else:
        record = service.approve(approval.org_id, decision.Request_Id__c, decision.Approver_Id__c)
    logger.info("break-glass decision", status=record.status.value)
    return {"status": record.status.value, "request_id": record.request_id}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
