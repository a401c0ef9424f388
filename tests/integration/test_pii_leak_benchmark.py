"""A public gateway conformance harness (``pii-leak-benchmark`` 0.6.0, PyPI, pinned) against
``sovgw proxy`` with an external destination pointed at the harness's own capture upstream:
the v1 profile must pass, and the v2 profile with exhaustive two-part splits must find no
leak on the request path, LeakRate 0 for whole and split values, and FidelityRate 1.0."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sovgw.adapters.files import FileAuditSink
from sovgw.app.proxy import build_proxy
from sovgw.proxy.apps import key_hash, load_proxy_config
from sovgw.proxy.http_server import serve_proxy

KEY = "sk-sovgw-harness-" + "h" * 24
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def harness_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The proxy (eu-nl-like: one external destination, pseudonymise) and the capture port."""
    root = tmp_path_factory.mktemp("harness")
    (root / "policies").mkdir()
    (root / "policies" / "eu-nl.yaml").write_text(
        json.dumps(
            {
                "version": "harness-1",
                "jurisdiction": "eu-nl",
                "destinations": [
                    {
                        "upstream": "openai:https://capture.example/v1",
                        "name": "capture",
                        "region": "eu-west-1",
                        "tier": "external",
                    }
                ],
                "rules": [
                    {
                        "id": "harness.external-pseudonymised",
                        "levels": ["PUBLIC", "INTERNAL", "PERSONAL"],
                        "destinations": ["capture"],
                        "external_sensitive": "pseudonymise",
                    }
                ],
            }
        )
    )
    (root / "gateway.yaml").write_text(
        json.dumps(
            {
                "jurisdictions": [
                    {
                        "id": "eu-nl",
                        "region": "eu-west-1",
                        "allowed_regions": ["eu-west-1"],
                        "policy": "policies/eu-nl.yaml",
                    }
                ]
            }
        )
    )
    (root / "proxy.yaml").write_text(
        json.dumps(
            {
                "gateway": "gateway.yaml",
                "model_aliases": [{"pattern": "*", "route": "auto"}],
                "apps": [
                    {
                        "id": "harness",
                        "key_sha256": key_hash(KEY),
                        "jurisdiction": "eu-nl",
                        "purposes": ["chat"],
                        "baseline_level": "PUBLIC",
                    }
                ],
            }
        )
    )
    capture_port = _free_port()
    proxy = build_proxy(
        load_proxy_config(root / "proxy.yaml"),
        audit=FileAuditSink(root / "audit"),
        base_url_overrides={"capture": f"http://127.0.0.1:{capture_port}/v1"},
        api_key_for=lambda endpoint: None,
    )
    server = serve_proxy(proxy)
    try:
        yield server.url, capture_port
    finally:
        server.stop()


def _run(args: list[str], **env: str) -> None:
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode in {0, 1}, done.stderr[-2000:]  # 1: the harness says "fail"


def test_the_v1_profile_passes(harness_target: tuple[str, int], tmp_path: Path) -> None:
    url, capture_port = harness_target
    report = tmp_path / "v1.json"
    _run(
        [
            str(BIN / "pii-leak-benchmark"),
            *("--target-base-url", f"{url}/v1", "--target-api-key", KEY),
            *("--target-model", "gpt-4o-mini", "--capture-port", str(capture_port)),
            *("--iterations", "3", "--json-out", str(report)),
            *("--redaction-claimed", "claimed", "--redaction-enabled"),
            *("--redaction-claim-citation", "https://example.invalid/sovgw/README.md"),
            *("--redaction-config-reference", "policy rule external_sensitive: pseudonymise"),
        ]
    )
    assert json.loads(report.read_text())["outcome"] == "pass"


@pytest.mark.timeout(900)
def test_the_v2_profile_finds_no_leak_whole_or_split(
    harness_target: tuple[str, int], tmp_path: Path
) -> None:
    url, capture_port = harness_target
    summary = tmp_path / "v2.json"
    _run(
        [
            str(BIN / "pii-leak-benchmark-v2"),
            *("--out", str(tmp_path / "reports"), "--json-out", str(summary)),
            *("--gateway-url", f"{url}/v1/chat/completions"),
            *("--upstream-port", str(capture_port), "--model", "gpt-4o-mini"),
            "--exhaustive-splits",
        ],
        V2_GATEWAY_TOKEN=KEY,
    )
    rows: list[dict[str, Any]] = json.loads(summary.read_text())["rows"]
    assert len(rows) >= 7, "every seeded policy row of the profile"
    for row in rows:
        measured = (
            row["leak_single_chunk"],
            row["leak_adversarial"],
            row["fidelity_rate"],
            row["request_path_leak"],
            row["outcome"],
        )
        assert measured == (0.0, 0.0, 1.0, [], "pass"), row["policy"]
