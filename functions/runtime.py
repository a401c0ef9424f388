"""What every handler shares: settings, dependency wiring and the retry/dead-letter decision.

``build_dependencies`` is the composition root for AWS and Salesforce adapters. In Lambda it is
called once per cold start from environment settings; the local runner calls it per
jurisdiction with the same code.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sovgw.config import GatewayConfig, Jurisdiction, load_config
from sovgw.domain.audit import rejection_record
from sovgw.domain.budget import Lane
from sovgw.domain.errors import GatewayError, RejectedInput
from sovgw.domain.failover import BreakerBoard
from sovgw.logs import make_logger
from sovgw.ports import (
    AuditSink,
    CrmRecords,
    DeadLetters,
    EventPublisher,
    MappingVault,
    ModelInvoker,
    SessionCache,
)
from sovgw.wiring import dead_letter_queue_name

logger = make_logger()
_invocation: ContextVar[Mapping[str, str] | None] = ContextVar("invocation", default=None)


def invocation_links() -> Mapping[str, str]:
    """Lambda request id and X-Ray trace id of the invocation in progress (for audit links)."""
    return _invocation.get() or {}


class Settings(BaseModel):
    """Function settings, read from the environment once per cold start."""

    model_config = ConfigDict(frozen=True)

    config_path: Path
    jurisdiction: str
    salesforce_ca_bundle: str | None = None
    budget_store_url: str | None = None
    budget_store_iam_user: str | None = None
    budget_store_name: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            config_path=Path(env.get("SOVGW_CONFIG", "config/gateway.yaml")),
            jurisdiction=env["SOVGW_JURISDICTION"],
            salesforce_ca_bundle=env.get("SOVGW_SALESFORCE_CA_BUNDLE") or None,
            budget_store_url=env.get("SOVGW_BUDGET_STORE_URL") or None,
            budget_store_iam_user=env.get("SOVGW_BUDGET_STORE_IAM_USER") or None,
            budget_store_name=env.get("SOVGW_BUDGET_STORE_NAME") or None,
        )


@dataclass
class Dependencies:
    """Everything a handler's logic needs, already connected."""

    config: GatewayConfig
    jurisdiction: Jurisdiction
    audit: AuditSink
    publisher: EventPublisher
    dead_letters: DeadLetters
    model: ModelInvoker
    vault: MappingVault
    crm_factory: Callable[[str, Lane], CrmRecords]
    breakers: BreakerBoard = field(default_factory=BreakerBoard)
    secrets: Any = None
    budget_store: Any = None
    session: Any = None
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    salesforce_ca_bundle: str | None = None
    sessions: SessionCache | None = None
    _crm_cache: dict[tuple[str, Lane], CrmRecords] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def crm_for(self, org_id: str, lane: Lane = Lane.INTERACTIVE) -> CrmRecords:
        """The org's Salesforce access for ``lane`` (one per org and lane, reused while warm;
        credentials are re-read from Secrets Manager by the pool, so rotations apply)."""
        key = (org_id[:15], lane)
        with self._lock:
            if key not in self._crm_cache:
                self._crm_cache[key] = self.crm_factory(org_id, lane)
            return self._crm_cache[key]


def build_dependencies(
    config: GatewayConfig,
    jurisdiction_id: str,
    *,
    salesforce_ca_bundle: str | None = None,
    budget_store_url: str | None = None,
    budget_store_iam_user: str | None = None,
    budget_store_name: str | None = None,
    emit_metrics: bool = False,
) -> Dependencies:
    """Connect the adapters for one jurisdiction (its region only).

    The AWS and Salesforce clients are imported here, not at module level: importing them
    costs most of a cold start, and only the first invocation needs them.
    """
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    from sovgw.adapters.aws import (  # noqa: PLC0415
        EventBridgePublisher,
        S3AuditSink,
        SageMakerModels,
        SqsDeadLetters,
    )
    from sovgw.adapters.budget_metrics import ThrottledPublisher  # noqa: PLC0415
    from sovgw.adapters.salesforce import (  # noqa: PLC0415
        CredentialPool,
        OrgBudget,
        SalesforceRecords,
        load_credential_pool,
    )
    from sovgw.adapters.sessions import ValkeySessions  # noqa: PLC0415
    from sovgw.adapters.upstreams import ModelRouter  # noqa: PLC0415
    from sovgw.adapters.valkey_budget import ValkeyBudgetStore, connect_store  # noqa: PLC0415
    from sovgw.adapters.vault import KmsMappingVault  # noqa: PLC0415

    model_client_config = Config(
        connect_timeout=2, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"}
    )
    jurisdiction = config.jurisdiction(jurisdiction_id)
    if jurisdiction is None:
        raise RejectedInput(f"unknown jurisdiction {jurisdiction_id!r}")
    region = jurisdiction.region
    session = boto3.session.Session(region_name=region)
    sqs = session.client("sqs")
    secrets = session.client("secretsmanager")
    queue_urls: dict[str, str] = {}

    def dlq_url(function_name: str) -> str:
        if function_name not in queue_urls:
            name = dead_letter_queue_name(jurisdiction.id, function_name)
            queue_urls[function_name] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return queue_urls[function_name]

    budget_store = (
        ValkeyBudgetStore(
            connect_store(
                budget_store_url,
                iam_user=budget_store_iam_user,
                cache_name=budget_store_name,
                region=region,
            )
        )
        if budget_store_url
        else None
    )

    kms = session.client("kms")
    # Salesforce sessions shared by the jurisdiction's processes, sealed for as long as one
    # can live (24 h), so a grant's can still be opened to revoke them at its end.
    sessions = (
        ValkeySessions(
            budget_store.client,
            KmsMappingVault(kms, jurisdiction.kms_alias, ttl=timedelta(hours=24)),
        )
        if budget_store
        else None
    )
    publish_metrics = (
        ThrottledPublisher(budget_store.health, jurisdiction.id)
        if budget_store and emit_metrics
        else None
    )

    def crm_factory(org_id: str, lane: Lane) -> CrmRecords:
        org = config.org(org_id)
        if org is None or org.jurisdiction != jurisdiction.id:
            raise RejectedInput(f"org {org_id} is not served by {jurisdiction.id}")
        return SalesforceRecords(
            CredentialPool(partial(load_credential_pool, secrets, org)),
            budget=OrgBudget(budget_store, org.org_id, publish_metrics) if budget_store else None,
            lane=lane,
            ca_bundle=salesforce_ca_bundle,
            sessions=sessions,
        )

    def runtime_client(endpoint_region: str) -> Any:
        return session.client(
            "sagemaker-runtime", region_name=endpoint_region, config=model_client_config
        )

    return Dependencies(
        config=config,
        jurisdiction=jurisdiction,
        audit=S3AuditSink(session.client("s3"), jurisdiction.audit_bucket, invocation_links),
        publisher=EventBridgePublisher(session.client("events"), jurisdiction.event_bus),
        dead_letters=SqsDeadLetters(sqs, dlq_url),
        model=ModelRouter(SageMakerModels(cache(runtime_client))),
        vault=KmsMappingVault(kms, jurisdiction.kms_alias),
        crm_factory=crm_factory,
        secrets=secrets,
        budget_store=budget_store,
        session=session,
        salesforce_ca_bundle=salesforce_ca_bundle,
        sessions=sessions,
    )


@cache
def dependencies_from_env() -> Dependencies:
    """Lambda's composition root: built on the first invocation, reused while warm."""
    settings = Settings.from_env()
    return build_dependencies(
        load_config(settings.config_path),
        settings.jurisdiction,
        salesforce_ca_bundle=settings.salesforce_ca_bundle,
        budget_store_url=settings.budget_store_url,
        budget_store_iam_user=settings.budget_store_iam_user,
        budget_store_name=settings.budget_store_name,
        emit_metrics=True,
    )


EventLogic = Callable[[Mapping[str, Any], Dependencies], dict[str, Any]]


def run_handler(
    function_name: str,
    logic: EventLogic,
    event: Mapping[str, Any],
    deps: Dependencies,
    context: Any = None,
) -> dict[str, Any]:
    """Run ``logic``; dead-letter input that can never succeed, let retryable errors raise.

    This is the only place that turns an exception into "retry" or "dead-letter now". It also
    sets the correlation id of the logs and the invocation ids the audit records link to.
    """
    request_id = getattr(context, "aws_request_id", None) or f"local-{uuid.uuid4()}"
    links = {"lambda_request_id": request_id}
    trace_id = os.environ.get("_X_AMZN_TRACE_ID")
    if trace_id:
        links["xray_trace_id"] = trace_id.split(";")[0].removeprefix("Root=")
    token = _invocation.set(links)
    logger.set_correlation_id(str(event.get("id", "")))
    try:
        return logic(event, deps)
    except GatewayError as error:
        if error.retryable:
            logger.warning(
                "retryable failure",
                function=function_name,
                event_id=event.get("id"),
                error=type(error).__name__,
                reason=str(error),
            )
            raise
        reason = f"{type(error).__name__}: {error}"
        logger.warning(
            "event dead-lettered", function=function_name, event_id=event.get("id"), reason=reason
        )
        deps.audit.write(rejection_record(function_name, event, reason, deps.jurisdiction.id))
        deps.dead_letters.send(function_name, event, reason, attempts=1)
        return {"status": "dead-lettered", "reason": reason}
    finally:
        _invocation.reset(token)
