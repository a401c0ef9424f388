"""``sovgw localstack``: LocalStack in host mode, started and stopped by PID."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sovgw.local.localstack import health, start_localstack, stop_from_pid_file


def configure(localstack: argparse.ArgumentParser) -> None:
    localstack.add_argument("action", choices=["start", "stop", "status"])
    localstack.add_argument("--venv", default=".localstack-venv")
    localstack.add_argument("--state-dir", default=".run/localstack")
    localstack.add_argument("--port", type=int, default=4566)
    localstack.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    state = Path(args.state_dir)
    if args.action == "start":
        process = start_localstack(Path(args.venv), state, args.port)
        print(f"LocalStack healthy at {process.url} (pid {process.pid or 'not ours'})")
    elif args.action == "stop":
        print(
            "stopped" if stop_from_pid_file(state) else "no LocalStack started by sovgw is running"
        )
    else:
        status = health(f"http://127.0.0.1:{args.port}")
        print(json.dumps(status, indent=2) if status else "not running")
        return 0 if status else 1
    return 0
