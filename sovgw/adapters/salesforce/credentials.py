"""An org's pool of Salesforce credentials: integration credentials taken in turn, and the
emergency credential only the EMERGENCY lane sees; read from Secrets Manager and re-read so a
rotation applies without a cold start."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sovgw.adapters.salesforce.oauth import SalesforceCredentials
from sovgw.config import OrgBinding
from sovgw.domain.budget import Lane
from sovgw.domain.errors import RejectedInput


@dataclass(frozen=True)
class PooledCredential:
    """One credential of an org's pool. ``credential_id`` changes with every rotation (it
    names the secret version), so a refused old version never blocks its successor."""

    credential_id: str
    credentials: SalesforceCredentials
    emergency: bool = False


class CredentialPool:
    """An org's integration credentials (alternating) and its emergency credential.

    ``load`` returns the current credentials (from Secrets Manager in production); they are
    re-read after ``ttl_s`` so a rotation is picked up without a cold start.
    """

    def __init__(
        self,
        load: Callable[[], Sequence[PooledCredential]],
        *,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._clock = clock
        self._loaded: tuple[float, tuple[PooledCredential, ...]] | None = None
        self._turn = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def single(cls, credentials: SalesforceCredentials) -> CredentialPool:
        return cls(lambda: (PooledCredential(credentials.client_id, credentials),))

    def refresh(self) -> None:
        with self._lock:
            self._loaded = None

    def candidates(self, lane: Lane) -> list[PooledCredential]:
        """In the order to try: EMERGENCY starts with the emergency credential; the other
        lanes never see it and alternate between the integration credentials."""
        with self._lock:
            if self._loaded is None or self._clock() - self._loaded[0] > self._ttl_s:
                self._loaded = (self._clock(), tuple(self._load()))
            pool = self._loaded[1]
            turn = next(self._turn)
        integration = [c for c in pool if not c.emergency]
        if integration:
            start = turn % len(integration)
            integration = integration[start:] + integration[:start]
        if lane is Lane.EMERGENCY:
            return [c for c in pool if c.emergency] + integration
        return integration


def credential_id(secret_name: str, version_id: str) -> str:
    """The id of one version of a pool secret (as the shared store records refusals)."""
    return f"{secret_name.rsplit('/', 1)[-1]}@{version_id[:8]}"


def load_credential_pool(secrets_client: Any, org: OrgBinding) -> list[PooledCredential]:
    """The org's pool from Secrets Manager (AWSCURRENT of each secret; one that does not exist
    yet is skipped). The credential id names the secret version, so each rotation gets a
    fresh id."""
    from sovgw.adapters.aws.secrets import read_secret_version  # noqa: PLC0415 - boto only at the edge

    pool: list[PooledCredential] = []
    for name, emergency in org.credential_pool_secrets:
        found = read_secret_version(secrets_client, name)
        if found is None:
            continue
        value, version = found
        pool.append(
            PooledCredential(
                credential_id(name, version),
                SalesforceCredentials.model_validate(value),
                emergency,
            )
        )
    if not pool:
        raise RejectedInput(f"org {org.org_id} has no Salesforce credential secret")
    return pool
