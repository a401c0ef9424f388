"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sovgw.local.valkey import LocalValkey, start_valkey


@pytest.fixture(scope="module")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalValkey]:
    """A redis-server (the Valkey protocol) for the module's tests, stopped after them."""
    store = start_valkey(tmp_path_factory.mktemp("valkey"))
    try:
        yield store
    finally:
        store.stop()
