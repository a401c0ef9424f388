"""functions/proxy/run.sh, the Lambda Web Adapter's start command, serves the proxy for the
stack's jurisdiction on $PORT (what the adapter's readiness check and invocations reach)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from sovgw.httpd import free_port
from tests.conftest import ROOT


def test_run_sh_serves_only_its_jurisdictions_apps(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "PORT": str(port),
        "SOVGW_JURISDICTION": "eu-de",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    process = subprocess.Popen(
        [str(ROOT / "functions" / "proxy" / "run.sh")], env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the proxy did not start"
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        own = requests.get(
            f"http://127.0.0.1:{port}/v1/models",
            headers={"Authorization": "Bearer sk-sovgw-demo-contoso-legal"},
            timeout=5,
        )
        assert [m["id"] for m in own.json()["data"]] == [
            "auto",
            "sovgw-eu-de-llm",
            "sovgw-eu-de-llm-b",
        ]
        other = requests.get(
            f"http://127.0.0.1:{port}/v1/models",
            headers={"Authorization": "Bearer sk-sovgw-demo-northwind-faq"},
            timeout=5,
        )
        assert other.status_code == 401, "an eu-nl app is unknown to the eu-de proxy"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
