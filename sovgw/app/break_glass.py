"""The break-glass service over a deployment's adapters (the function, the CLI and the local
runner all drive grants through this one)."""

from __future__ import annotations

from sovgw.adapters.salesforce.break_glass import SalesforceBreakGlass
from sovgw.adapters.valkey_grants import ValkeyGrantStore
from sovgw.app.bootstrap import Dependencies
from sovgw.app.rotation import rotate_now
from sovgw.domain.break_glass import BreakGlassPolicy, BreakGlassService
from sovgw.domain.budget import Lane
from sovgw.domain.errors import RejectedInput


def break_glass_service(deps: Dependencies) -> BreakGlassService:
    """Grants in the shared store; Salesforce through the lane each step may use."""
    settings = deps.jurisdiction.policy.break_glass

    def salesforce_for(org_id: str, grant_id: str | None) -> SalesforceBreakGlass:
        if grant_id is None:  # checks before approval: the org's interactive access
            return SalesforceBreakGlass(deps.salesforce(org_id, Lane.INTERACTIVE, None))
        # a session of its own, in the lane this grant unlocks; revoked at expiry
        return SalesforceBreakGlass(deps.salesforce(org_id, Lane.EMERGENCY, grant_id))

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
        store=ValkeyGrantStore(deps.shared_store().client),
        salesforce_for=salesforce_for,
        aws=deps.aws_break_glass,
        audit=deps.audit,
        clock_ms=deps.clock_ms,
        rotate_emergency=rotate_emergency,
    )
