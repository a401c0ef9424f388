"""rotate: Secrets Manager's four rotation steps for a Salesforce credential of an org's pool.

Secrets Manager invokes it synchronously once per step; an exception fails the step (and the
rotation), which Secrets Manager reports and retries at the next schedule. Every step is
audited (``sovgw.app.rotation``, shared with ``sovgw rotate`` and the end of a break-glass
grant).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.invocation import logger, unexpected_errors_withheld
from sovgw.app.rotation import run_step
from sovgw.contracts import SecretRotationEvent
from sovgw.domain.errors import RejectedInput

FUNCTION = "rotate"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    try:
        parsed = SecretRotationEvent.model_validate(event)
    except ValidationError as error:
        raise RejectedInput(f"not a rotation event: {error.error_count()} problem(s)") from None
    done = run_step(deps, parsed.Step, parsed.SecretId, parsed.ClientRequestToken)
    logger.info("rotation step", step=parsed.Step, result=done)
    return {"step": parsed.Step, "result": done}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with unexpected_errors_withheld(FUNCTION, event):
        return handle(event, dependencies_from_env())
