"""A private redis-server (Valkey's wire protocol) for the local stack, tests and benchmarks:
on loopback, an ephemeral port, no persistence, started and stopped by PID."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from sovgw.httpd import free_port


class ValkeyError(RuntimeError):
    """The local store could not be started."""


@dataclass
class LocalValkey:
    """A redis-server this process started; ``url`` is what clients connect to."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_valkey(state_dir: Path, timeout: float = 10.0) -> LocalValkey:
    """Start redis-server on 127.0.0.1 (no disk persistence) and wait until it answers."""
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        raise ValkeyError("redis-server not found: run `make redis-server` (Debian package)")
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (state_dir / "valkey.log").open("ab")
    process = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--dir",
            str(state_dir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    store = LocalValkey(process, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ValkeyError(f"redis-server exited with {process.returncode}; see {state_dir}")
        try:
            if store.client().ping():
                return store
        except redis.ConnectionError:
            time.sleep(0.02)
    store.stop()
    raise ValkeyError("redis-server did not answer in time")
