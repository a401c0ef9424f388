"""One local sovereign stack for the e2e tests: LocalStack on 127.0.0.1:4566 (started and
stopped by PID here unless one is already running), the simulator and the model endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sovgw.config import load_config
from sovgw.local.stack import LocalSovereignStack
from tests.conftest import ROOT


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
