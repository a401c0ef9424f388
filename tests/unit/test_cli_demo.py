"""``sovgw demo`` prints its own table: the gateway's loggers, made when their modules were
imported, log only errors while it runs (unless ``POWERTOOLS_LOG_LEVEL`` says otherwise)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sovgw.cli import demo, main
from sovgw.logs import GATEWAY_LOGGER
from tests.conftest import ROOT


@pytest.fixture
def gateway_level() -> Iterator[None]:
    logger = logging.getLogger(GATEWAY_LOGGER)
    before = logger.level
    yield
    logger.setLevel(before)


@pytest.mark.parametrize(
    ("configured", "expected"), [(None, logging.ERROR), ("INFO", logging.INFO)]
)
def test_the_demo_quiets_loggers_that_already_exist(
    monkeypatch: pytest.MonkeyPatch,
    gateway_level: None,
    configured: str | None,
    expected: int,
) -> None:
    logging.getLogger(GATEWAY_LOGGER).setLevel(logging.INFO)  # as made on import
    if configured is None:
        monkeypatch.delenv("POWERTOOLS_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", configured)
    seen: list[int] = []

    def fake_run_demo(root: Path, timeout: float) -> int:
        seen.append(logging.getLogger(GATEWAY_LOGGER).getEffectiveLevel())
        return 0

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    assert main(["demo", "--root", str(ROOT)]) == 0
    assert seen == [expected]
