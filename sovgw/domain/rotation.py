"""Rotation of a Salesforce connected-app credential in Secrets Manager's four steps.

Salesforce generates the new consumer secret as a *staged* credential that works alongside
the current one, so there is no moment without a valid secret:

- ``createSecret``: stage a new secret in Salesforce, store it as ``AWSPENDING``;
- ``setSecret``: nothing left to set (Salesforce already holds it); kept for the protocol;
- ``testSecret``: one login with the pending secret; a failure stops the rotation here and
  ``AWSCURRENT`` stays untouched (the staged secret is deleted, the next run starts afresh);
- ``finishSecret``: retire the current version in the shared store (no instance presents it
  again), move ``AWSCURRENT`` to the new version, then rotate it in at Salesforce (the old
  secret stops working).

Every step is idempotent: Secrets Manager may call a step again after a timeout. The pool's
other integration credential serves traffic throughout; the emergency credential is not
rotated while a break-glass grant is active.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sovgw.domain.errors import GatewayError, RejectedInput
from sovgw.ports import ConsumerSecrets, CredentialRetirement, SecretVersions

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"


class RotationFailed(GatewayError):
    """This rotation attempt cannot finish; ``AWSCURRENT`` is unchanged. Secrets Manager
    retries at the next schedule (or an operator with ``sovgw rotate``)."""


@dataclass(frozen=True)
class SecretState:
    name: str
    rotation_enabled: bool
    versions: Mapping[str, tuple[str, ...]]

    def current_version(self) -> str:
        for version, stages in self.versions.items():
            if CURRENT in stages:
                return version
        raise RotationFailed(f"secret {self.name} has no {CURRENT} version")

    @property
    def is_emergency(self) -> bool:
        return self.name.endswith("/emergency")


def rotate_step(
    step: str,
    secret_id: str,
    token: str,
    *,
    versions: SecretVersions,
    salesforce: ConsumerSecrets,
    retirement: CredentialRetirement,
    credential_id: Callable[[str, str], str],
) -> str:
    """Run one step; return what it did (for the log and the audit record)."""
    if step not in STEPS:
        raise RejectedInput(f"unknown rotation step {step!r}")
    # Whether rotation is switched on is Secrets Manager's business (it only invokes rotation
    # for secrets with a schedule); what may be rotated is the caller's (its own pool only).
    state = versions.describe(secret_id)
    stages = state.versions.get(token, ())
    if CURRENT in stages:
        return f"{step}: version {token} is already {CURRENT}"
    if stages and PENDING not in stages:
        raise RejectedInput(f"version {token} of {state.name} is not {PENDING}")
    current_version = state.current_version()
    current = versions.value(secret_id, current_version)
    if current is None:
        raise RotationFailed(f"secret {state.name} has no readable {CURRENT} value")
    client_id = str(current["client_id"])

    if step == "createSecret":
        if versions.value(secret_id, token) is not None:
            return f"createSecret: {PENDING} {token} exists"
        if state.is_emergency and retirement.break_glass_active():
            raise RotationFailed("emergency credential not rotated: a break-glass grant is active")
        salesforce.discard(client_id)  # a staged secret left by an earlier failed attempt
        secret = salesforce.stage(client_id)
        versions.put_pending(secret_id, token, {**current, "client_secret": secret})
        return f"createSecret: staged a new secret for {client_id} as {PENDING} {token}"
    if step == "setSecret":
        return "setSecret: Salesforce generated and holds the staged secret"
    pending = versions.value(secret_id, token)
    if pending is None:
        raise RotationFailed(f"no {PENDING} value {token} for {state.name}")
    if step == "testSecret":
        if not salesforce.login_works(pending):
            salesforce.discard(client_id)
            raise RotationFailed(f"the pending secret of {client_id} does not log in")
        return f"testSecret: the pending secret of {client_id} logs in"
    retirement.retire(credential_id(state.name, current_version))
    versions.promote(secret_id, token, current_version)
    salesforce.rotate_in(client_id)
    return f"finishSecret: {token} is {CURRENT}; the previous secret of {client_id} is retired"
