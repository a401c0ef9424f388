"""One local sovereign stack for the e2e tests: LocalStack on 127.0.0.1:4566 (started and
stopped by PID here unless one is already running), the simulator and the model endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce.format import format_soql

from sovgw.config import load_config
from sovgw.local.stack import LocalSovereignStack
from tests.conftest import ROOT

FR_ORG = "00D5F0000000002UAA"
CONTRACT = "8005F000000003FQAQ"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSovereignStack]:
    config = load_config(ROOT / "config" / "gateway.yaml")
    with LocalSovereignStack(
        config,
        ROOT / "config" / "sfsim-seed.yaml",
        tmp_path_factory.mktemp("stack"),
        ROOT / ".localstack-venv",
        backoff_seconds=0,
    ) as running:
        yield running


@pytest.fixture(scope="session")
def fr_request(stack: LocalSovereignStack) -> dict[str, Any]:
    """One review_clause request in eu-fr, run to completion (its audit records are what
    the audit and incident tools read)."""
    assert stack.salesforce is not None
    uuid = stack.publish_platform_event(
        FR_ORG,
        "AI_Request__e",
        {
            "Record_Id__c": CONTRACT,
            "Purpose__c": "review_clause",
            "Requested_By__c": "0055F000000000CQAQ",
        },
    )
    deadline = time.monotonic() + 30
    sim = stack.salesforce.sim
    while time.monotonic() < deadline:
        rows = sim.rest.query(
            sim.org(FR_ORG),
            format_soql("SELECT Id FROM AI_Result__c WHERE Request_Event_Id__c = {}", uuid),
            "62.0",
        )
        if rows["records"]:
            return {"uuid": uuid, "result_id": rows["records"][0]["Id"]}
        time.sleep(0.2)
    raise AssertionError("request did not complete")
