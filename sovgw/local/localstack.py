"""Start, health-check and stop LocalStack 4.14 in host mode (no Docker on these machines)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 4566
SERVICES = "s3,sqs,events,secretsmanager,kms,sts,iam,logs,scheduler,stepfunctions"


class LocalStackError(RuntimeError):
    """LocalStack could not be started or did not become healthy."""


def health(url: str, timeout: float = 2.0) -> dict[str, object] | None:
    """The health document, or None when nothing healthy answers."""
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=timeout) as response:  # noqa: S310
            parsed: dict[str, object] = json.loads(response.read())
            return parsed
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class LocalStackProcess:
    """A LocalStack this project started (``pid`` set) or found already running."""

    url: str
    pid: int | None
    log_path: Path | None

    def stop(self, timeout: float = 20.0) -> None:
        """Stop it by the PID we started (its whole process group); no-op if not ours."""
        if self.pid is None:
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                finished, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                finished = self.pid if not _alive(self.pid) else 0
            if finished:
                break
            time.sleep(0.2)
        else:
            os.killpg(self.pid, signal.SIGKILL)
        self.pid = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_localstack(
    venv: Path, state_dir: Path, port: int = DEFAULT_PORT, timeout: float = 120.0
) -> LocalStackProcess:
    """Reuse a healthy LocalStack on ``port`` or start one from ``venv``; wait until healthy."""
    url = f"http://127.0.0.1:{port}"
    if health(url) is not None:
        return LocalStackProcess(url, None, None)
    python = venv / "bin" / "python"
    if not python.exists():
        raise LocalStackError(
            f"LocalStack venv not found at {venv}; run `make demo` or `make test` to create it"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "localstack.log"
    env = {
        **os.environ,
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "LOCALSTACK_VOLUME_DIR": str(state_dir / "volume"),
        "SERVICES": SERVICES,
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "DISABLE_EVENTS": "1",
        "SKIP_INFRA_DOWNLOADS": "1",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = LocalStackProcess(url, process.pid, log_path)
    (state_dir / "localstack.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalStackError(
                f"LocalStack exited with code {process.returncode}; log tail:\n{_tail(log_path)}"
            )
        if health(url) is not None:
            return started
        time.sleep(0.5)
    started.stop()
    raise LocalStackError(
        f"LocalStack did not become healthy on {url} within {timeout:.0f}s; log tail:\n"
        f"{_tail(log_path)}"
    )


def stop_from_pid_file(state_dir: Path) -> bool:
    """Stop a LocalStack started earlier by ``sovgw localstack start``; True if one was stopped."""
    pid_file = state_dir / "localstack.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip())
    pid_file.unlink()
    if not _alive(pid):
        return False
    LocalStackProcess("", pid, None).stop()
    return True
