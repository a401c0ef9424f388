"""The embedded local sovereign stack, as one context manager for the demo and the tests."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import yaml

from model_serving.endpoint_server import ServedEndpoints, serve_in_background
from sovgw.adapters.aws.secrets import put_secret
from sovgw.adapters.files import AuditByJurisdiction
from sovgw.adapters.salesforce.oauth import SalesforceCredentials, http_session, request_token
from sovgw.adapters.salesforce.relay_metadata import (
    channel_name,
    named_credential,
    relay_endpoint,
    relay_name,
)
from sovgw.app.bootstrap import Settings, build_dependencies
from sovgw.app.canaries import CanaryFeed, canary_alarm
from sovgw.app.proxy import build_proxy, upstream_secret_name
from sovgw.config import GatewayConfig, Jurisdiction, OrgBinding
from sovgw.httpd import BackgroundServer
from sovgw.local.localstack import LocalStackProcess, start_localstack
from sovgw.local.runner import LocalDeployment
from sovgw.local.valkey import LocalValkey, start_valkey
from sovgw.ports import AuditSink
from sovgw.proxy.apps import load_proxy_config
from sovgw.proxy.core import SovereignProxy
from sovgw.proxy.http_server import BackgroundProxyServer, serve_proxy
from sovgw.sfsim.http_api import SalesforceSimulatorServer, eventbridge_sender
from sovgw.sfsim.model import MINIMUM_ACCESS_PROFILE
from sovgw.sfsim.state import ConnectedApp, RelayChannel, SimOrg

INTEGRATION_CLIENT_ID_PREFIX = "3MVG9sovgw"


class LocalSovereignStack:
    """LocalStack + Salesforce simulator + local model endpoint + one runner per jurisdiction."""

    def __init__(
        self,
        config: GatewayConfig,
        seed_path: Path,
        state_dir: Path,
        localstack_venv: Path,
        *,
        localstack_port: int = 4566,
        backoff_seconds: float = 1.0,
    ) -> None:
        self.config = config
        self.seed = yaml.safe_load(seed_path.read_text(encoding="utf-8"))
        self.state_dir = state_dir
        self.localstack_venv = localstack_venv
        self.localstack_port = localstack_port
        self.backoff_seconds = backoff_seconds
        self.localstack: LocalStackProcess | None = None
        self.valkey: LocalValkey | None = None
        self._valkey_client: Any = None
        self.salesforce: SalesforceSimulatorServer | None = None
        self.model_server: BackgroundServer | None = None
        self.models = ServedEndpoints(
            {(e.region, e.name) for j in config.jurisdictions for e in j.endpoints}
        )
        self.deployments: dict[str, LocalDeployment] = {}
        self._publisher_credentials: dict[str, SalesforceCredentials] = {}
        self._servers: list[BackgroundServer | BackgroundProxyServer] = []
        self.clock_offset_ms = 0

    def __enter__(self) -> LocalSovereignStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def session(self, region: str) -> Any:
        return boto3.session.Session(region_name=region)

    def start(self) -> None:
        self.localstack = start_localstack(
            self.localstack_venv, self.state_dir / "localstack", self.localstack_port
        )
        self.valkey = start_valkey(self.state_dir / "valkey")
        self.model_server = serve_in_background(self.models)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.localstack.url,
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.model_server.url,
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_DEFAULT_REGION": self.config.jurisdictions[0].region,
            }
        )
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        self.salesforce = SalesforceSimulatorServer(state_dir=self.state_dir / "sfsim").start()
        self.salesforce.sim.relay.sender = eventbridge_sender(
            lambda region: self.session(region).client("events")
        )
        for jurisdiction in self.config.jurisdictions:
            deps = build_dependencies(
                self.config,
                jurisdiction.id,
                Settings(
                    salesforce_ca_bundle=str(self.salesforce.ca_bundle),
                    budget_store_url=self.valkey.url,
                    canary_ttl_s=0,  # a planting counts at once (one read per use, locally)
                ),
            )
            deps.clock_ms = self.now_ms
            deployment = LocalDeployment(
                jurisdiction, deps, self.session(jurisdiction.region), self.backoff_seconds
            )
            deployment.provision()
            self.deployments[jurisdiction.id] = deployment
        for org in self.config.orgs:
            self._seed_org(org)
        for deployment in self.deployments.values():
            deployment.start()

    def _seed_org(self, binding: OrgBinding) -> None:
        assert self.salesforce is not None
        sim = self.salesforce.sim
        jurisdiction = self.config.jurisdiction(binding.jurisdiction)
        assert jurisdiction is not None
        spec = self.seed["orgs"][binding.org_id]
        org = sim.add_org(binding.org_id, binding.name)
        sim.deploy_project(org)
        users = spec["users"]
        for user in users:
            sim.add_user(
                org,
                user["Username"],
                user["Email"],
                user["LastName"],
                user_id=user["Id"],
                profile=user.get("profile"),
            )
            for permission_set in user.get("permission_sets", ()):
                sim.assign_permission_set(org, user["Id"], permission_set)
        for sobject, records in spec.get("records", {}).items():
            for record in records:
                values = {k: v for k, v in record.items() if k != "Id"}
                sim.insert(org, sobject, values, record_id=record.get("Id"))
        integration_user = users[0]["Id"]
        for index, (secret_name, emergency) in enumerate(binding.credential_pool_secrets):
            credentials = SalesforceCredentials(
                token_url=self.salesforce.token_url,
                client_id=f"{INTEGRATION_CLIENT_ID_PREFIX}{binding.org_id[:15]}{'ABE'[index]}",
                client_secret=secrets.token_urlsafe(32),
            )
            sim.add_app(
                org,
                ConnectedApp(
                    credentials.client_id,
                    credentials.client_secret.get_secret_value(),
                    run_as_user_id=integration_user,
                ),
            )
            if index == 0:
                self._publisher_credentials[binding.org_id[:15]] = credentials
            client = self.session(jurisdiction.region).client("secretsmanager")
            put_secret(client, secret_name, _credential_secret(credentials, emergency=emergency))
        self._seed_relay_monitor(binding, org, jurisdiction)

    def _seed_relay_monitor(
        self, binding: OrgBinding, org: SimOrg, jurisdiction: Jurisdiction
    ) -> None:
        """The relay as deploying its metadata leaves it (channel, named credential naming this
        account and region, running), and the separate monitor user that may read it."""
        assert self.salesforce is not None
        sim = self.salesforce.sim
        session = self.session(jurisdiction.region)
        account = (
            jurisdiction.aws_account_id or session.client("sts").get_caller_identity()["Account"]
        )
        sim.relay.configure_relay(
            org,
            RelayChannel(
                binding.relay_channel_id,
                binding.event_source,
                jurisdiction.region,
                developer_name=relay_name(jurisdiction),
                event_channel=channel_name(jurisdiction),
                named_credential=named_credential(jurisdiction),
                endpoint=relay_endpoint(jurisdiction, account),
            ),
        )
        domain = binding.org_id[:15].lower()
        monitor = sim.add_user(
            org,
            f"relay-monitor@{domain}.example",
            f"relay-monitor@{domain}.example",
            "Relay Monitor",
            profile=MINIMUM_ACCESS_PROFILE,
        )
        sim.assign_permission_set(org, monitor, "Sovgw_Relay_Monitor")
        credentials = SalesforceCredentials(
            token_url=self.salesforce.token_url,
            client_id=f"{INTEGRATION_CLIENT_ID_PREFIX}{binding.org_id[:15]}M",
            client_secret=secrets.token_urlsafe(32),
        )
        secret = credentials.client_secret.get_secret_value()
        sim.add_app(org, ConnectedApp(credentials.client_id, secret, run_as_user_id=monitor))
        put_secret(
            session.client("secretsmanager"),
            binding.relay_monitor_secret,
            _credential_secret(credentials),
        )

    def start_proxy(self, proxy_config_path: Path) -> tuple[SovereignProxy, BackgroundProxyServer]:
        """The OpenAI-compatible proxy over this stack: SageMaker calls to the local endpoint,
        ``openai:`` destinations to its OpenAI-compatible face, upstream keys from LocalStack
        Secrets Manager, audit records into each jurisdiction's bucket."""
        assert self.model_server is not None
        config = load_proxy_config(proxy_config_path)
        sinks: dict[str, AuditSink] = {}
        overrides: dict[str, str] = {}
        for jurisdiction in config.gateway_config.jurisdictions:
            deps = self.deployments[jurisdiction.id].deps
            sinks[jurisdiction.id] = deps.audit
            secrets_client = self.session(jurisdiction.region).client("secretsmanager")
            for endpoint in jurisdiction.endpoints:
                if endpoint.base_url:
                    overrides[endpoint.name] = f"{self.model_server.url}/v1"
                    put_secret(
                        secrets_client,
                        upstream_secret_name(jurisdiction.id, endpoint),
                        json.dumps({"api_key": secrets.token_urlsafe(24)}),
                    )
        proxy = build_proxy(
            config,
            audit=AuditByJurisdiction(sinks),
            sagemaker_endpoint_url=self.model_server.url,
            base_url_overrides=overrides,
        )
        jurisdictions = list(config.gateway_config.jurisdictions)
        proxy.canaries = CanaryFeed(config.gateway_config, jurisdictions, ttl_s=0)
        proxy.on_canary = canary_alarm(config.gateway_config, jurisdictions)
        server = serve_proxy(proxy)
        self._servers.append(server)
        return proxy, server

    def valkey_client(self) -> Any:
        """One client (one connection pool) for the stack's own reads of the store."""
        if self._valkey_client is None:
            assert self.valkey is not None
            self._valkey_client = self.valkey.client()
        return self._valkey_client

    def now_ms(self) -> int:
        """The stack's clock: wall time plus what ``advance_clock`` added."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def advance_clock(self, seconds: float) -> None:
        """Move the functions' and Salesforce's clocks forward together (demo, tests)."""
        self.clock_offset_ms += int(seconds * 1000)
        if self.salesforce is not None:
            self.salesforce.sim.advance(seconds)

    def publish_platform_event(self, org_id: str, event_name: str, fields: dict[str, Any]) -> str:
        """Publish through the simulator's REST API as the org's integration user; returns the
        EventUuid Salesforce assigned (the relay then forwards it to EventBridge)."""
        assert self.salesforce is not None
        credentials = self._publisher_credentials[org_id[:15]]
        http = http_session(str(self.salesforce.ca_bundle))
        session = request_token(credentials, http)
        response = http.post(
            f"{session.instance_url}/services/data/v62.0/sobjects/{event_name}/",
            json=fields,
            headers={"Authorization": f"Bearer {session.access_token.get_secret_value()}"},
            timeout=10,
        )
        if response.status_code != 201:
            raise RuntimeError(f"publish refused: {response.status_code} {response.text[:200]}")
        org = self.salesforce.sim.org(org_id)
        with self.salesforce.sim.lock:
            return org.events[-1].event_uuid

    def put_envelope(self, envelope: dict[str, Any]) -> str:
        """Put a stored envelope where Event Relay would: on its org's partner event bus (the
        first jurisdiction's own bus for an unknown org, where ``classify`` will refuse it)."""
        org_id = str(envelope.get("source", "")).split("/")[2:3]
        binding = self.config.org(org_id[0]) if org_id else None
        jurisdiction = (
            self.config.jurisdiction(binding.jurisdiction)
            if binding
            else self.config.jurisdictions[0]
        )
        assert jurisdiction is not None
        events = self.session(jurisdiction.region).client("events")
        result = events.put_events(
            Entries=[
                {
                    "Source": envelope["source"],
                    "DetailType": envelope["detail-type"],
                    "Detail": json.dumps(envelope["detail"]),
                    "EventBusName": binding.event_source if binding else jurisdiction.event_bus,
                }
            ]
        )
        return str(result["Entries"][0]["EventId"])

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        for deployment in self.deployments.values():
            deployment.stop()
        if self.model_server:
            self.model_server.stop()
        if self.salesforce:
            self.salesforce.stop()
        if self.localstack:
            self.localstack.stop()
        if self.valkey:
            self.valkey.stop()


def _credential_secret(credentials: SalesforceCredentials, **extra: Any) -> str:
    """A credential as its Secrets Manager value (the JSON the pool reads back)."""
    return json.dumps(
        {
            **credentials.model_dump(),
            "client_secret": credentials.client_secret.get_secret_value(),
            **extra,
        }
    )
