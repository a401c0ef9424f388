"""Shared fixtures: repository paths, a seeded Salesforce simulator over real HTTPS."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sovgw.adapters.salesforce.oauth import SalesforceCredentials, http_session
from sovgw.logs import GATEWAY_LOGGER
from sovgw.sfsim.http_api import SalesforceSimulatorServer
from sovgw.sfsim.state import ConnectedApp, SimOrg

ROOT = Path(__file__).resolve().parent.parent
ORG_A = "00D5E0000000001UAA"
ORG_B = "00D5F0000000002UAA"
SECRET = "s3cr3t-for-tests-only-" + "x" * 10


def wait_until(condition: Callable[[], Any], what: str = "condition", timeout: float = 30.0) -> Any:
    """Poll ``condition`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not met in {timeout} s")


def load_event(relative: str) -> dict[str, Any]:
    """A sample event from events/ (the same files the demo replays)."""
    loaded: dict[str, Any] = json.loads((ROOT / "events" / relative).read_text(encoding="utf-8"))
    return loaded


class SeededSimulator:
    """A running simulator with two orgs, an integration user and app each, and a case."""

    def __init__(self, server: SalesforceSimulatorServer) -> None:
        self.server = server
        self.sim = server.sim
        self.orgs: dict[str, SimOrg] = {}
        self.users: dict[str, str] = {}
        self.cases: dict[str, str] = {}
        for org_id, name in ((ORG_A, "Org A"), (ORG_B, "Org B")):
            org = self.sim.add_org(org_id, name, daily_api_limit=1000, lockout_threshold=3)
            user = self.sim.add_user(
                org,
                f"int@{name[-1]}.example",
                f"int@{name[-1]}.example",
                "Integration",
                password="correct horse",
            )
            self.sim.add_app(org, ConnectedApp(f"client-{name[-1]}", SECRET, run_as_user_id=user))
            self.orgs[org_id] = org
            self.users[org_id] = user
            self.cases[org_id] = self.sim.insert(
                org,
                "Case",
                {"Subject": f"Case of {name}", "Description": "reach me at x@y.example"},
            )

    def credentials(self, org_id: str) -> SalesforceCredentials:
        suffix = "A" if org_id == ORG_A else "B"
        return SalesforceCredentials(
            token_url=self.server.token_url, client_id=f"client-{suffix}", client_secret=SECRET
        )

    def http(self) -> Any:
        return http_session(str(self.server.ca_bundle))


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[SeededSimulator]:
    server = SalesforceSimulatorServer(state_dir=tmp_path / "sfsim").start()
    try:
        yield SeededSimulator(server)
    finally:
        server.stop()


GATEWAY_LOG_LINES: list[str] = []
E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs LocalStack (``-m "not localstack"`` runs the rest), and run the checks
    over the whole run's output (``runs_last``) after everything else, whatever their names."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.localstack)
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


class _CaptureGatewayLogs(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        GATEWAY_LOG_LINES.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def capture_gateway_logs() -> Iterator[list[str]]:
    """Every line the gateway logs during the run, formatted exactly as it is emitted."""
    from sovgw.app.invocation import logger  # noqa: PLC0415

    handler = _CaptureGatewayLogs()
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(GATEWAY_LOGGER).addHandler(handler)
    yield GATEWAY_LOG_LINES
    logging.getLogger(GATEWAY_LOGGER).removeHandler(handler)
