"""route: a classified request → policy decision → in-jurisdiction model → Salesforce."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.invocation import logger, run_handler
from sovgw.contracts import RequestClassifiedEvent, parse_event
from sovgw.domain.pipeline import resolve_jurisdiction, route_and_invoke

FUNCTION = "route"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    classified = parse_event(RequestClassifiedEvent, event).detail
    org_id = classified.request.org_id
    jurisdiction = resolve_jurisdiction(deps.config, org_id, deps.jurisdiction)
    outcome = route_and_invoke(
        classified,
        jurisdiction,
        model=deps.model,
        crm=deps.crm_for(org_id),
        audit=deps.audit,
        vault=deps.vault,
        breakers=deps.breakers,
        canaries=deps.canaries(),
        on_canary=deps.on_canary,
    )
    logger.info(
        "routed", status=outcome["status"], rule_id=outcome["rule_id"], endpoint=outcome["endpoint"]
    )
    return outcome


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
