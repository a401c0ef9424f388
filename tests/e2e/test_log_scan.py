"""No personal value or secret reached any gateway log line. Marked ``runs_last``: the
collection hook in ``tests/conftest.py`` puts it after every other test of the run, so it
scans everything they logged."""

from __future__ import annotations

import re

import pytest
import yaml

from sovgw.local.stack import LocalSovereignStack
from tests.conftest import GATEWAY_LOG_LINES, ROOT

_SENSITIVE = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+\d[\d ]{8,}\d|[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?"
)


def _fixture_values(stack: LocalSovereignStack) -> set[str]:
    seed = yaml.safe_load((ROOT / "config" / "sfsim-seed.yaml").read_text(encoding="utf-8"))
    values: set[str] = set()
    for org in seed["orgs"].values():
        for user in org["users"]:
            values.update({user["Username"], user["Email"]})
        for records in org["records"].values():
            for record in records:
                for text in record.values():
                    values.update(_SENSITIVE.findall(str(text)))
    assert stack.salesforce is not None
    values.update(stack.salesforce.sim.tokens)  # every access and refresh token issued
    values.update(c.client_secret.get_secret_value() for c in stack._publisher_credentials.values())
    return {v for v in values if len(v) >= 8}


@pytest.mark.runs_last
def test_no_fixture_value_in_any_log_line(stack: LocalSovereignStack) -> None:
    values = _fixture_values(stack)
    assert len(values) > 20, "the scan must have something to look for"
    assert GATEWAY_LOG_LINES, "the gateway logged nothing: the capture is broken"
    leaks = [(value, line[:120]) for line in GATEWAY_LOG_LINES for value in values if value in line]
    assert leaks == []
