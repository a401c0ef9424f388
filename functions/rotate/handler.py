"""rotate: Secrets Manager's four rotation steps for a Salesforce credential of an org's pool.

Secrets Manager invokes it synchronously once per step; an exception fails the step (and the
rotation), which Secrets Manager reports and retries at the next schedule. Every step is
audited. ``rotate_now`` drives the four steps the same way for an operator (``sovgw rotate``)
and for the end of a break-glass grant.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from functions.runtime import Dependencies, dependencies_from_env, logger
from sovgw.adapters.aws import SecretsManagerVersions
from sovgw.adapters.salesforce import (
    CredentialPool,
    OrgBudget,
    SalesforceConsumerSecrets,
    SalesforceRecords,
    credential_id,
    load_credential_pool,
)
from sovgw.config import OrgBinding
from sovgw.contracts import SecretRotationEvent
from sovgw.domain.audit import AuditRecord, Outcome, Stage, audit_record_id
from sovgw.domain.budget import Lane
from sovgw.domain.errors import GatewayError, RejectedInput
from sovgw.domain.rotation import STEPS, rotate_step

FUNCTION = "rotate"


@dataclass
class StoreRetirement:
    """``CredentialRetirement`` in the shared budget store (none: nothing shared to tell)."""

    store: Any
    org_id: str

    def retire(self, credential_id: str) -> None:
        if self.store is not None:
            self.store.refuse_credential(self.org_id, credential_id)

    def break_glass_active(self) -> bool:
        return self.store is not None and self.store.active_grants(self.org_id) > 0


def _org_of(deps: Dependencies, secret_name: str) -> tuple[OrgBinding, str]:
    """The org whose pool holds the secret named ``secret_name`` (refused otherwise)."""
    for org in deps.config.orgs_of(deps.jurisdiction.id):
        if any(secret_name == name for name, _ in org.credential_pool_secrets):
            return org, secret_name
    raise RejectedInput(f"{secret_name} is not a Salesforce credential of {deps.jurisdiction.id}")


def run_step(deps: Dependencies, step: str, secret_id: str, token: str) -> str:
    """One step with its adapters; the admin session uses the pool minus this secret."""
    versions = SecretsManagerVersions(deps.secrets)
    org, name = _org_of(deps, versions.describe(secret_id).name)
    budget = OrgBudget(deps.budget_store, org.org_id) if deps.budget_store else None

    def others() -> list[Any]:
        return [
            c
            for c in load_credential_pool(deps.secrets, org)
            if not c.credential_id.startswith(name.rsplit("/", 1)[-1] + "@")
        ]

    admin = SalesforceRecords(
        CredentialPool(others),
        budget=budget,
        lane=Lane.INTERACTIVE,
        ca_bundle=deps.salesforce_ca_bundle,
    )
    outcome, reason = Outcome.OK, ""
    try:
        reason = rotate_step(
            step,
            secret_id,
            token,
            versions=versions,
            salesforce=SalesforceConsumerSecrets(admin, ca_bundle=deps.salesforce_ca_bundle),
            retirement=StoreRetirement(deps.budget_store, org.org_id),
            credential_id=credential_id,
        )
        return reason
    except GatewayError as error:
        outcome, reason = Outcome.FAILED, f"{type(error).__name__}: {error}"
        raise
    finally:
        deps.audit.write(
            AuditRecord(
                record_id=audit_record_id(f"{name}/{token}/{step}", Stage.CREDENTIAL_ROTATION),
                stage=Stage.CREDENTIAL_ROTATION,
                jurisdiction=deps.jurisdiction.id,
                org_id=org.org_id,
                principal=f"rotation:{name.rsplit('/', 1)[-1]}",
                reason=reason[:1000],
                outcome=outcome,
            )
        )


def rotate_now(deps: Dependencies, secret_id: str) -> list[str]:
    """All four steps with a fresh token, as Secrets Manager runs them."""
    token = str(uuid.uuid4())
    return [run_step(deps, step, secret_id, token) for step in STEPS]


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
    return handle(event, dependencies_from_env())
