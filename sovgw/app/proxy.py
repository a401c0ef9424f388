"""Composition root of the proxy: real adapters for a configuration (the edge of the system)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sovgw.adapters.files import FileAuditSink
from sovgw.config import Jurisdiction, ModelEndpoint
from sovgw.ports import AuditSink
from sovgw.proxy.apps import ProxyConfig
from sovgw.proxy.core import SovereignProxy


def upstream_secret_name(jurisdiction: str, endpoint: ModelEndpoint) -> str:
    """Where the API key of an ``openai:`` upstream lives (Secrets Manager, jurisdiction key)."""
    return f"sovgw/{jurisdiction}/upstream/{endpoint.name}"


class SecretsManagerKeys:
    """API keys of ``openai:`` upstreams from Secrets Manager (``{"api_key": ...}``), in the
    home region of the jurisdiction whose policy names the endpoint; re-read every
    ``ttl_s`` so a rotated key is picked up without a restart."""

    def __init__(self, config: ProxyConfig, ttl_s: float = 300.0) -> None:
        self._owners = {
            e.name: j
            for j in config.gateway_config.jurisdictions
            for e in j.endpoints
            if e.base_url
        }
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()  # one read per expiry, not one per waiting request

    def __call__(self, endpoint: ModelEndpoint) -> str | None:
        import boto3  # noqa: PLC0415

        from sovgw.adapters.aws.secrets import read_json_secret  # noqa: PLC0415

        jurisdiction = self._owners.get(endpoint.name)
        if jurisdiction is None:
            return None
        with self._lock:
            cached = self._cache.get(endpoint.name)
            if cached and time.monotonic() - cached[0] < self._ttl_s:
                return cached[1]
            client = boto3.session.Session().client(
                "secretsmanager", region_name=jurisdiction.region
            )
            secret = read_json_secret(client, upstream_secret_name(jurisdiction.id, endpoint))
            key = str(secret["api_key"])
            self._cache[endpoint.name] = (time.monotonic(), key)
            return key


def build_proxy(
    config: ProxyConfig,
    *,
    audit: AuditSink,
    sagemaker_endpoint_url: str | None = None,
    base_url_overrides: Mapping[str, str] | None = None,
    api_key_for: Callable[[ModelEndpoint], str | None] | None = None,
    ca_bundle: str | None = None,
) -> SovereignProxy:
    """A proxy whose SageMaker clients are pinned to each endpoint's region.

    ``sagemaker_endpoint_url`` and ``base_url_overrides`` (endpoint name → URL) point the
    upstreams at local servers; in production both stay unset.
    """
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    from sovgw.adapters.aws.sagemaker import SageMakerModels  # noqa: PLC0415
    from sovgw.adapters.upstreams import ModelRouter, OpenAICompatible  # noqa: PLC0415

    client_config = Config(
        connect_timeout=2,
        read_timeout=config.upstream_read_timeout_s,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=64,
    )

    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def runtime_client(region: str) -> Any:
        """One client per region, made once: a burst of first requests waits for it instead
        of each building its own (boto3 loads its service model per client)."""
        with lock:
            if region not in clients:
                clients[region] = boto3.session.Session().client(
                    "sagemaker-runtime",
                    region_name=region,
                    endpoint_url=sagemaker_endpoint_url,
                    config=client_config,
                )
            return clients[region]

    overrides = dict(base_url_overrides or {})
    openai = OpenAICompatible(
        api_key_for=api_key_for or SecretsManagerKeys(config),
        base_url_for=lambda e: overrides.get(e.name) or e.base_url or "",
        read_timeout_s=config.upstream_read_timeout_s,
        ca_bundle=ca_bundle,
    )
    router = ModelRouter(SageMakerModels(runtime_client), openai)
    proxy = SovereignProxy(config=config, upstream=router, audit=audit, awaitable=router)
    warm_up(config, runtime_client)
    return proxy


def warm_up(config: ProxyConfig, runtime_client: Callable[[str], Any]) -> None:
    """What the first requests would otherwise build under load, built before the port
    accepts: the SageMaker client of every region a policy names, and the DLP engine."""
    from sovgw.domain import dlp  # noqa: PLC0415

    for region in sorted(
        {
            e.region
            for j in config.gateway_config.jurisdictions
            for e in j.endpoints
            if not e.base_url and e.region in j.allowed_regions
        }
    ):
        runtime_client(region)
    dlp.prepare()
    dlp.detect("warm up: jan@example.nl, DE89 3704 0044 0532 0130 00")


def proxy_audit_sink(jurisdiction: Jurisdiction | None, audit_dir: Path) -> AuditSink:
    """The jurisdiction's S3 audit bucket, or files under ``audit_dir`` without one (local)."""
    if jurisdiction is None:
        return FileAuditSink(audit_dir)
    import boto3  # noqa: PLC0415

    from sovgw.adapters.aws.audit import S3AuditSink  # noqa: PLC0415

    s3 = boto3.session.Session(region_name=jurisdiction.region).client("s3")
    return S3AuditSink(s3, jurisdiction.audit_bucket)
