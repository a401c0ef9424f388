"""``sovgw proxy --workers N``: N processes accept on one port, a worker that dies is
replaced, and SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from sovgw.httpd import free_port
from tests.conftest import ROOT, wait_until

DEMO_KEY = "Bearer sk-sovgw-demo-contoso-legal"


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def _serves(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_workers_share_the_port_are_replaced_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "sovgw.cli", "proxy", "--workers", "2", "--port", str(port),
            "--config", str(ROOT / "config" / "proxy.yaml"), "--no-upstream-keys",
            "--audit-dir", str(tmp_path / "audit"),
        ],
        cwd=ROOT,
        env={**os.environ, "POWERTOOLS_LOG_LEVEL": "ERROR"},
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert "2 worker processes" in process.stdout.readline()
        wait_until(lambda: _serves(url) and len(_children(process.pid)) == 2, "2 workers serve")
        first = _children(process.pid)
        for _ in range(10):
            models = requests.get(
                f"{url}/v1/models", headers={"Authorization": DEMO_KEY}, timeout=5
            )
            assert models.status_code == 200 and models.json()["data"][0]["id"] == "auto"
        time.sleep(1.1)  # past the start-up grace: a later death is replaced, not fatal
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: len(_children(process.pid)) == 2 and victim not in _children(process.pid),
            "the dead worker is replaced",
        )
        assert _serves(url)
        workers = _children(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        wait_until(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), "the workers stop"
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_workers_that_cannot_start_stop_the_server_instead_of_looping() -> None:
    script = (
        "import sys\n"
        "from sovgw.httpd import PreforkServer\n"
        "def broken():\n"
        "    raise RuntimeError('no configuration')\n"
        "sys.exit(PreforkServer(broken, 2).run())\n"
    )
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert finished.returncode == 1
    assert "no configuration" in finished.stderr
    assert time.monotonic() - started < 10
