"""``sovgw demo``: the pipeline on the embedded local stack (LocalStack and the simulators)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from sovgw.cli.errors import CommandError
from sovgw.local.demo import run_demo
from sovgw.logs import GATEWAY_LOGGER


def configure(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--root", default=".", help="repository root")
    demo.add_argument("--timeout", type=float, default=120.0)
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # The demo prints its own table: the gateway logs only errors unless told otherwise. The
    # loggers already exist (made on import), so their level is set, not just the variable.
    logging.getLogger(GATEWAY_LOGGER).setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"))
    root = Path(args.root).resolve()
    if not (root / "config" / "gateway.yaml").exists():
        raise CommandError(f"{root} is not the sovgw repository (config/gateway.yaml missing)")
    return run_demo(root, timeout=args.timeout)
