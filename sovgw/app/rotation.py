"""Rotation of one Salesforce credential of an org's pool, step by step, with its adapters and
its audit record (the function runs one step per Secrets Manager call; ``rotate_now`` runs all
four for an operator and for the end of a break-glass grant)."""

from __future__ import annotations

import uuid

from sovgw.adapters.salesforce.credentials import CredentialPool, PooledCredential, credential_id
from sovgw.adapters.salesforce.records import OrgBudget, SalesforceRecords
from sovgw.adapters.salesforce.rotation import SalesforceConsumerSecrets
from sovgw.adapters.valkey_budget import StoreRetirement
from sovgw.app.bootstrap import Dependencies
from sovgw.config import OrgBinding
from sovgw.domain.audit import AuditRecord, Outcome, Stage, audit_record_id
from sovgw.domain.budget import Lane
from sovgw.domain.errors import GatewayError, RejectedInput
from sovgw.domain.rotation import STEPS, rotate_step


def _org_of(deps: Dependencies, secret_name: str) -> OrgBinding:
    """The org whose pool holds the secret named ``secret_name`` (refused otherwise)."""
    for org in deps.config.orgs_of(deps.jurisdiction.id):
        if any(secret_name == name for name, _ in org.credential_pool_secrets):
            return org
    raise RejectedInput(f"{secret_name} is not a Salesforce credential of {deps.jurisdiction.id}")


def run_step(deps: Dependencies, step: str, secret_id: str, token: str) -> str:
    """One step with its adapters; the admin session uses the pool minus this secret."""
    name = deps.secret_versions.describe(secret_id).name
    org = _org_of(deps, name)
    budget = OrgBudget(deps.budget_store, org.org_id) if deps.budget_store else None
    rotated = name.rsplit("/", 1)[-1] + "@"

    def others() -> list[PooledCredential]:
        return [c for c in deps.credential_pool(org) if not c.credential_id.startswith(rotated)]

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
            versions=deps.secret_versions,
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
