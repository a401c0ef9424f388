"""What every command shares: the one error path and the look-ups of a jurisdiction or org."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sovgw.cli.errors import CommandError
from sovgw.config import GatewayConfig, Jurisdiction, OrgBinding, load_config

DEFAULT_CONFIG = "config/gateway.yaml"

type Run = Callable[[argparse.Namespace], int]


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG)


def gateway_config(args: argparse.Namespace) -> GatewayConfig:
    return load_config(Path(args.config))


def jurisdiction_of(config: GatewayConfig, jurisdiction_id: str) -> Jurisdiction:
    jurisdiction = config.jurisdiction(jurisdiction_id)
    if jurisdiction is None:
        raise CommandError(f"unknown jurisdiction {jurisdiction_id!r}")
    return jurisdiction


def org_of(config: GatewayConfig, org_id: str) -> OrgBinding:
    binding = config.org(org_id)
    if binding is None:
        raise CommandError(f"org {org_id} is not bound to any jurisdiction")
    return binding


def wait_forever(stop: Callable[[], Any]) -> int:
    """Serve until Ctrl-C, then stop cleanly."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop()
    return 0


def utc_time(text: str) -> datetime:
    """An argparse type: an ISO 8601 time with its zone (a legal clock or a replay window must
    not depend on the operator's local time)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. Z): {text!r}")
    return moment.astimezone(UTC)
