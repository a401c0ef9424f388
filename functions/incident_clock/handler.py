"""incident_clock: on its schedule (every 15 minutes in AWS), the legal clocks of the
jurisdiction's open incidents (GDPR Art. 33, NIS2 Art. 23, FADP Art. 24): those in their last
quarter or past due with no recorded action are counted into the metric the stack alarms
on, and logged by incident id and clock (never by what the incident is about)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.incidents import check_incident_clocks, incident_desk
from sovgw.app.invocation import logger, run_handler
from sovgw.contracts import ScheduledEvent, parse_event

FUNCTION = "incident_clock"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    parse_event(ScheduledEvent, event)
    risky = check_incident_clocks(incident_desk(deps.jurisdiction))
    for incident, deadline in risky:
        logger.warning(
            "incident clock at risk",
            incident_id=incident.id,
            clock=deadline.clock.value,
            due=deadline.due.isoformat(),
        )
    return {
        "status": "checked",
        "at_risk": [f"{incident.id}:{deadline.clock.value}" for incident, deadline in risky],
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
