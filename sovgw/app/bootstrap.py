"""Settings → connected adapters for one jurisdiction (its region only).

In Lambda ``dependencies_from_env`` runs once per cold start; the CLI builds the same from the
same environment variables (``operator_dependencies``) and the local stack per jurisdiction
(``build_dependencies``). Nothing else constructs an AWS or Salesforce adapter for the
functions.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from sovgw.app.invocation import invocation_links, unexpected_errors_withheld
from sovgw.config import GatewayConfig, Jurisdiction, OrgBinding, load_config
from sovgw.domain.budget import Lane
from sovgw.domain.canaries import NO_CANARIES, CanaryWatch, Sighting
from sovgw.domain.errors import RejectedInput
from sovgw.domain.failover import BreakerBoard
from sovgw.ports import (
    AuditAnchors,
    AuditSink,
    AwsAccess,
    CrmRecords,
    DatasetObjects,
    DeadLetters,
    EventPublisher,
    MappingVault,
    ModelInvoker,
    QueryLog,
    RelayLedger,
    SecretVersions,
    SessionCache,
)
from sovgw.wiring import dead_letter_queue_name

if TYPE_CHECKING:
    from sovgw.adapters.salesforce.credentials import PooledCredential
    from sovgw.adapters.salesforce.records import SalesforceRecords
    from sovgw.adapters.valkey_budget import ValkeyBudgetStore


class Settings(BaseModel):
    """Deployment settings, read from the environment (Lambda's, or an operator's shell)."""

    model_config = ConfigDict(frozen=True)

    config_path: Path = Path("config/gateway.yaml")
    jurisdiction: str = ""
    salesforce_ca_bundle: str | None = None
    budget_store_url: str | None = None
    budget_store_iam_user: str | None = None
    budget_store_name: str | None = None
    canary_ttl_s: float = 300.0  # how old the leak canaries read from Secrets Manager may be

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            config_path=Path(env.get("SOVGW_CONFIG", "config/gateway.yaml")),
            jurisdiction=env.get("SOVGW_JURISDICTION", ""),
            salesforce_ca_bundle=env.get("SOVGW_SALESFORCE_CA_BUNDLE") or None,
            budget_store_url=env.get("SOVGW_BUDGET_STORE_URL") or None,
            budget_store_iam_user=env.get("SOVGW_BUDGET_STORE_IAM_USER") or None,
            budget_store_name=env.get("SOVGW_BUDGET_STORE_NAME") or None,
            canary_ttl_s=float(env.get("SOVGW_CANARY_TTL_S") or 300.0),
        )


@dataclass
class Dependencies:
    """Everything a handler's logic needs, already connected, each behind its port."""

    config: GatewayConfig
    jurisdiction: Jurisdiction
    audit: AuditSink
    publisher: EventPublisher
    dead_letters: DeadLetters
    model: ModelInvoker
    vault: MappingVault
    # The org's Salesforce access in a lane; with a grant id, the grant's own sessions.
    salesforce: Callable[[str, Lane, str | None], SalesforceRecords]
    secret_versions: SecretVersions
    credential_pool: Callable[[OrgBinding], Sequence[PooledCredential]]
    aws_break_glass: AwsAccess
    # The dataset bucket, and a dataset's pseudonymisation key (create: on first use).
    datasets: DatasetObjects
    pseudonym_key: Callable[[str, bool], bytes]
    breakers: BreakerBoard = field(default_factory=BreakerBoard)
    budget_store: ValkeyBudgetStore | None = None
    sessions: SessionCache | None = None
    audit_anchors: AuditAnchors | None = None
    relay_ledger: RelayLedger | None = None
    # The org's relay monitor (View Setup), for the relay's own feedback; None: not read.
    relay_monitor: Callable[[OrgBinding], SalesforceRecords] | None = None
    salesforce_ca_bundle: str | None = None
    # The jurisdiction's leak canaries (current), and what a sighting does (an incident).
    canaries: Callable[[], CanaryWatch] = field(default=lambda: NO_CANARIES)
    on_canary: Callable[[Sighting, str], None] = field(default=lambda sighting, evidence: None)
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    _crm_cache: dict[tuple[str, Lane], CrmRecords] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def crm_for(self, org_id: str, lane: Lane = Lane.INTERACTIVE) -> CrmRecords:
        """The org's Salesforce access for ``lane`` (one per org and lane, reused while warm;
        credentials are re-read from Secrets Manager by the pool, so rotations apply)."""
        key = (org_id[:15], lane)
        with self._lock:
            if key not in self._crm_cache:
                self._crm_cache[key] = self.salesforce(org_id, lane, None)
            return self._crm_cache[key]

    def shared_store(self) -> ValkeyBudgetStore:
        """The jurisdiction's shared store; what needs it (break-glass) is refused without."""
        if self.budget_store is None:
            raise RejectedInput("this needs the shared store (SOVGW_BUDGET_STORE_URL)")
        return self.budget_store


@dataclass(frozen=True)
class SharedStore:
    """The jurisdiction's shared store and what is built on it (all None without one)."""

    budget: ValkeyBudgetStore | None = None
    sessions: SessionCache | None = None
    publish_metrics: Callable[[str], None] | None = None
    audit_anchors: AuditAnchors | None = None
    relay_ledger: RelayLedger | None = None


def _shared_store(
    settings: Settings, jurisdiction: Jurisdiction, kms: Any, *, emit_metrics: bool
) -> SharedStore:
    """The budget store (IAM auth in AWS), the Salesforce sessions every process of the
    jurisdiction shares, and the budget metrics published as calls are observed."""
    from sovgw.adapters.budget_metrics import ThrottledPublisher  # noqa: PLC0415
    from sovgw.adapters.sessions import ValkeySessions  # noqa: PLC0415
    from sovgw.adapters.valkey_anchors import ValkeyAuditAnchors  # noqa: PLC0415
    from sovgw.adapters.valkey_budget import ValkeyBudgetStore, connect_store  # noqa: PLC0415
    from sovgw.adapters.valkey_relay import ValkeyRelayLedger  # noqa: PLC0415
    from sovgw.adapters.vault import KmsMappingVault  # noqa: PLC0415

    if not settings.budget_store_url:
        return SharedStore()
    budget = ValkeyBudgetStore(
        connect_store(
            settings.budget_store_url,
            iam_user=settings.budget_store_iam_user,
            cache_name=settings.budget_store_name,
            region=jurisdiction.region,
        )
    )
    # Sealed for as long as a session can live (24 h), so a grant's can still be opened to
    # revoke them at its end.
    sessions = ValkeySessions(
        budget.client, KmsMappingVault(kms, jurisdiction.kms_alias, ttl=timedelta(hours=24))
    )
    metrics = ThrottledPublisher(budget.health, jurisdiction.id) if emit_metrics else None
    return SharedStore(
        budget,
        sessions,
        metrics,
        ValkeyAuditAnchors(budget.client),
        ValkeyRelayLedger(budget.client),
    )


def build_dependencies(
    config: GatewayConfig,
    jurisdiction_id: str,
    settings: Settings | None = None,
    *,
    emit_metrics: bool = False,
) -> Dependencies:
    """Connect the adapters for one jurisdiction (its region only).

    The AWS and Salesforce clients are imported here, not at module level: importing them is
    most of a cold start, and a handler module stays cheap to import (and to test) without.
    """
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    from sovgw.adapters.aws.audit import S3AuditSink  # noqa: PLC0415
    from sovgw.adapters.aws.break_glass import AwsBreakGlass  # noqa: PLC0415
    from sovgw.adapters.aws.datasets import S3DatasetObjects, dataset_key_reader  # noqa: PLC0415
    from sovgw.adapters.aws.events import EventBridgePublisher, SqsDeadLetters  # noqa: PLC0415
    from sovgw.adapters.aws.sagemaker import SageMakerModels  # noqa: PLC0415
    from sovgw.adapters.aws.secrets import SecretsManagerVersions  # noqa: PLC0415
    from sovgw.adapters.query_log import (  # noqa: PLC0415
        AnomalyFeed,
        AuditQueryLog,
        EmfQueryLog,
        QueryLogs,
    )
    from sovgw.adapters.salesforce.credentials import load_credential_pool  # noqa: PLC0415
    from sovgw.adapters.upstreams import ModelRouter  # noqa: PLC0415
    from sovgw.adapters.vault import KmsMappingVault  # noqa: PLC0415

    settings = settings or Settings()
    jurisdiction = config.jurisdiction(jurisdiction_id)
    if jurisdiction is None:
        raise RejectedInput(f"unknown jurisdiction {jurisdiction_id!r}")
    session = boto3.session.Session(region_name=jurisdiction.region)
    kms, secrets = session.client("kms"), session.client("secretsmanager")
    shared = _shared_store(settings, jurisdiction, kms, emit_metrics=emit_metrics)
    model_client_config = Config(
        connect_timeout=2, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"}
    )

    @cache
    def runtime_client(endpoint_region: str) -> Any:
        return session.client(
            "sagemaker-runtime", region_name=endpoint_region, config=model_client_config
        )

    credential_pool = partial(load_credential_pool, secrets)
    audit = S3AuditSink(
        session.client("s3"), jurisdiction.audit_bucket, invocation_links, shared.audit_anchors
    )
    query_logs: list[QueryLog] = [AuditQueryLog(audit, jurisdiction.id)]
    if emit_metrics:
        query_logs.append(EmfQueryLog(jurisdiction.id))
    if shared.budget is not None:
        from sovgw.adapters.valkey_anomaly import ValkeyAnomalyStore  # noqa: PLC0415

        query_logs.append(AnomalyFeed(ValkeyAnomalyStore(shared.budget.client), jurisdiction.id))
    from sovgw.app.canaries import CanaryFeed, canary_alarm  # noqa: PLC0415

    return Dependencies(
        config=config,
        jurisdiction=jurisdiction,
        audit=audit,
        canaries=CanaryFeed(config, [jurisdiction], ttl_s=settings.canary_ttl_s),
        on_canary=canary_alarm(config, [jurisdiction]),
        publisher=EventBridgePublisher(session.client("events"), jurisdiction.event_bus),
        dead_letters=SqsDeadLetters(
            session.client("sqs"), partial(dead_letter_queue_name, jurisdiction.id)
        ),
        model=ModelRouter(SageMakerModels(runtime_client)),
        vault=KmsMappingVault(kms, jurisdiction.kms_alias),
        salesforce=SalesforceAccessFactory(
            config,
            jurisdiction,
            credential_pool,
            shared,
            settings.salesforce_ca_bundle,
            QueryLogs(*query_logs),
        ),
        secret_versions=SecretsManagerVersions(secrets),
        credential_pool=credential_pool,
        aws_break_glass=AwsBreakGlass(session, jurisdiction.id, jurisdiction.event_bus),
        datasets=S3DatasetObjects(
            session.client("s3"), jurisdiction.datasets_bucket, jurisdiction.kms_alias
        ),
        pseudonym_key=dataset_key_reader(secrets, jurisdiction.id),
        budget_store=shared.budget,
        sessions=shared.sessions,
        audit_anchors=shared.audit_anchors,
        relay_ledger=shared.relay_ledger,
        relay_monitor=partial(relay_monitor_records, secrets, settings.salesforce_ca_bundle),
        salesforce_ca_bundle=settings.salesforce_ca_bundle,
    )


def relay_monitor_records(
    secrets_client: Any, ca_bundle: str | None, binding: OrgBinding
) -> SalesforceRecords:
    """Salesforce as the org's relay monitor user (View Setup, nothing else)."""
    from sovgw.adapters.aws.secrets import read_secret_version  # noqa: PLC0415
    from sovgw.adapters.salesforce.oauth import SalesforceCredentials  # noqa: PLC0415
    from sovgw.adapters.salesforce.records import SalesforceRecords  # noqa: PLC0415

    found = read_secret_version(secrets_client, binding.relay_monitor_secret)
    if found is None:
        raise RejectedInput(
            f"no relay monitor credential: create secret {binding.relay_monitor_secret} for a "
            "user with the Sovgw_Relay_Monitor permission set"
        )
    return SalesforceRecords(SalesforceCredentials.model_validate(found[0]), ca_bundle=ca_bundle)


@dataclass(frozen=True)
class SalesforceAccessFactory:
    """An org's Salesforce access in a lane (with a grant id: that grant's own sessions),
    through the org's credential pool and shared budget; only for orgs this jurisdiction
    serves."""

    config: GatewayConfig
    jurisdiction: Jurisdiction
    credential_pool: Callable[[OrgBinding], Sequence[PooledCredential]]
    shared: SharedStore
    ca_bundle: str | None
    query_log: QueryLog | None = None  # every call's entry (issue #16)

    def __call__(self, org_id: str, lane: Lane, grant_id: str | None) -> SalesforceRecords:
        from sovgw.adapters.salesforce.credentials import CredentialPool  # noqa: PLC0415
        from sovgw.adapters.salesforce.records import (  # noqa: PLC0415
            OrgBudget,
            SalesforceRecords,
        )

        org = self.config.org(org_id)
        if org is None or org.jurisdiction != self.jurisdiction.id:
            raise RejectedInput(f"org {org_id} is not served by {self.jurisdiction.id}")
        store = self.shared.budget
        return SalesforceRecords(
            CredentialPool(partial(self.credential_pool, org)),
            budget=OrgBudget(store, org.org_id, self.shared.publish_metrics) if store else None,
            lane=lane,
            grant_id=grant_id,
            ca_bundle=self.ca_bundle,
            sessions=self.shared.sessions,
            query_log=self.query_log,
        )


@cache
def dependencies_from_env() -> Dependencies:
    """Lambda's dependencies: built on the first invocation, reused while warm. Built before
    ``run_handler`` runs, so a failure here is withheld the same way (a configuration error
    may quote a contact's e-mail address)."""
    with unexpected_errors_withheld("start-up", {}):
        settings = Settings.from_env()
        if not settings.jurisdiction:
            raise RejectedInput("SOVGW_JURISDICTION is not set")
        return build_dependencies(
            load_config(settings.config_path), settings.jurisdiction, settings, emit_metrics=True
        )


def operator_audit_anchors(jurisdiction: Jurisdiction) -> AuditAnchors | None:
    """The anchor sequences for ``sovgw audit seal`` run by an operator beside the store
    (``SOVGW_BUDGET_STORE_URL`` set); None elsewhere, and sealing then leaves them to the
    scheduled sealer."""
    from sovgw.adapters.valkey_anchors import ValkeyAuditAnchors  # noqa: PLC0415
    from sovgw.adapters.valkey_budget import connect_store  # noqa: PLC0415

    settings = Settings.from_env()
    if not settings.budget_store_url:
        return None
    client = connect_store(
        settings.budget_store_url,
        iam_user=settings.budget_store_iam_user,
        cache_name=settings.budget_store_name,
        region=jurisdiction.region,
    )
    return ValkeyAuditAnchors(client)


def operator_dependencies(config: GatewayConfig, jurisdiction_id: str) -> Dependencies:
    """The functions' dependencies for an operator command, from the same environment."""
    return build_dependencies(config, jurisdiction_id, Settings.from_env())
