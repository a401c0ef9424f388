"""``sovgw proxy --workers N``: N processes accept on one port, a worker that dies is
replaced, one that cannot start stops the server, and SIGTERM stops them all."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
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


class _Lines:
    """Every line a process prints, read on a thread, so a test waits for a line with a bound."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        threading.Thread(
            target=lambda: self.seen.extend(iter(stream.readline, "")), daemon=True
        ).start()

    def ready_workers(self) -> set[int]:
        return {int(line.split()[1]) for line in list(self.seen) if line.startswith("worker ")}


@pytest.fixture
def proxy_with_two_workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], _Lines, str]]:
    """``sovgw proxy --workers 2`` in a process group of its own, which is killed whole
    afterwards, also when the test fails half way."""
    port = free_port()
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
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        yield process, _Lines(process.stdout), f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_workers_share_the_port_are_replaced_and_stop_together(
    proxy_with_two_workers: tuple[subprocess.Popen[str], _Lines, str],
) -> None:
    process, lines, url = proxy_with_two_workers
    wait_until(lambda: any("2 worker processes" in line for line in lines.seen), "announced")
    wait_until(lambda: len(lines.ready_workers()) == 2 and _serves(url), "2 workers serve")
    first = _children(process.pid)
    assert first == lines.ready_workers()
    for _ in range(10):
        models = requests.get(f"{url}/v1/models", headers={"Authorization": DEMO_KEY}, timeout=5)
        assert models.status_code == 200 and models.json()["data"][0]["id"] == "auto"
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    replaced = wait_until(
        lambda: (lines.ready_workers() - first) & _children(process.pid),
        "the dead worker is replaced by a ready one",
    )
    assert _children(process.pid) == (first - {victim}) | replaced
    assert _serves(url)
    workers = _children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    wait_until(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), "the workers stop"
    )


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


def test_the_port_opens_only_once_every_worker_has_built_its_handler(tmp_path: Path) -> None:
    """Workers that take a second to build (imports, pools, warm-up): a connection tried
    before both have built is refused, not queued behind the start (each worker leaves a
    marker when built); once the URL is announced the first request is served."""
    port = free_port()
    script = (
        "import os, sys, time\n"
        "from http.server import BaseHTTPRequestHandler\n"
        "from sovgw.httpd import PreforkServer, _Server\n"
        "class Hello(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length', '2')\n"
        "        self.end_headers(); self.wfile.write(b'ok')\n"
        "    def log_message(self, *args): pass\n"
        "def slow():\n"
        "    time.sleep(1.0)\n"
        f"    open(os.path.join({str(tmp_path)!r}, f'built-{{os.getpid()}}'), 'w').close()\n"
        "    def serve(listener):\n"
        "        server = _Server(('127.0.0.1', 0), Hello, bind_and_activate=False)\n"
        "        server.socket.close(); server.socket = listener; server.serve_forever()\n"
        "    return serve\n"
        f"server = PreforkServer(slow, 2, port={port})\n"
        "sys.exit(server.run(lambda: print('listening', server.url, flush=True)))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = _Lines(process.stdout)

        def building() -> bool:
            return len(list(tmp_path.glob("built-*"))) < 2

        refused_while_building = 0
        while not any(line.startswith("listening") for line in lines.seen):
            before = building()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            except ConnectionRefusedError:
                refused_while_building += before
            else:  # accepted: only a violation if the workers were still building after it
                assert not building(), "a connection was accepted before every worker was built"
            assert process.poll() is None
            time.sleep(0.05)
        assert refused_while_building > 0
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "ok"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
