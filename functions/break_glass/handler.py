"""break_glass: requests and approvals from Salesforce, the one-time expiry schedule, and the
sweeper tick; thin over ``sovgw.domain.breakglass``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.rotate.handler import rotate_now
from functions.runtime import Dependencies, dependencies_from_env, logger, run_handler
from sovgw.adapters.aws import AwsBreakGlass
from sovgw.adapters.salesforce import SalesforceBreakGlass, SalesforceRecords
from sovgw.adapters.valkey_grants import ValkeyGrantStore
from sovgw.contracts import BreakGlassApprovalEvent, BreakGlassRequestEvent, parse_event
from sovgw.domain.breakglass import BreakGlassPolicy, BreakGlassRequest, BreakGlassService
from sovgw.domain.budget import Lane
from sovgw.domain.errors import RejectedInput

FUNCTION = "break_glass"


def service_for(deps: Dependencies) -> BreakGlassService:
    """The service over this deployment's adapters (the CLI and the runner use it too)."""
    if deps.budget_store is None:
        raise RejectedInput("break-glass needs the shared store (SOVGW_BUDGET_STORE_URL)")
    settings = deps.jurisdiction.policy.break_glass

    def salesforce_for(org_id: str, grant_id: str | None) -> SalesforceBreakGlass:
        if grant_id is None:
            records = deps.crm_for(org_id, Lane.INTERACTIVE)
        else:  # a session of its own, in the lane this grant unlocks; revoked at expiry
            records = deps.crm_factory(org_id, Lane.EMERGENCY)
            assert isinstance(records, SalesforceRecords)
            records.grant_id = grant_id
        assert isinstance(records, SalesforceRecords)
        return SalesforceBreakGlass(records)

    def rotate_emergency(org_id: str) -> None:
        org = deps.config.org(org_id)
        if org is None:
            raise RejectedInput(f"org {org_id} is not bound to this deployment")
        rotate_now(deps, f"{org.credentials_secret}/emergency")

    return BreakGlassService(
        jurisdiction=deps.jurisdiction.id,
        policy=BreakGlassPolicy(
            max_duration_s=settings.max_duration_minutes * 60,
            approval_timeout_s=settings.approval_timeout_minutes * 60,
        ),
        store=ValkeyGrantStore(deps.budget_store.client),
        salesforce_for=salesforce_for,
        aws=AwsBreakGlass(deps.session, deps.jurisdiction.id, deps.jurisdiction.event_bus),
        audit=deps.audit,
        clock_ms=deps.clock_ms,
        rotate_emergency=rotate_emergency,
    )


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    service = service_for(deps)
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
