"""unrouted: Salesforce events no route claims are dead-lettered with the reason, never dropped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.invocation import logger, run_handler
from sovgw.contracts import ContractError

FUNCTION = "unrouted"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    raise ContractError(
        f"no route for detail-type {str(event.get('detail-type'))[:128]!r} "
        f"in jurisdiction {deps.jurisdiction.id}"
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
