"""``sovgw salesforce relay metadata``: the jurisdiction's Event Relay as SFDX source, for the
Salesforce admin to deploy next to ``salesforce/force-app``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sovgw.adapters.salesforce.relay_metadata import relay_metadata
from sovgw.cli.common import (
    add_config,
    gateway_config,
    jurisdiction_of,
    org_of,
    utc_time,
)
from sovgw.cli.errors import CommandError


def configure(salesforce: argparse.ArgumentParser) -> None:
    areas = salesforce.add_subparsers(dest="area", required=True)
    relay = areas.add_parser("relay", help="Salesforce Event Relay to the jurisdiction's bus")
    actions = relay.add_subparsers(dest="action", required=True)
    metadata = actions.add_parser(
        "metadata", help="write the channel, members, named credential and relay as SFDX source"
    )
    metadata.add_argument("--jurisdiction", required=True)
    metadata.add_argument(
        "--account", help="the stack's AWS account (default: aws_account_id in the config)"
    )
    metadata.add_argument(
        "--out", type=Path, required=True, help="a package directory, e.g. salesforce/relays/eu-de"
    )
    add_config(metadata)
    metadata.set_defaults(run=write_metadata)
    status = actions.add_parser(
        "status",
        help="is the org's relay delivering? each set-up step, the next command (exit 1: not)",
    )
    status.add_argument("--org", required=True)
    status.add_argument("--json", action="store_true", help="print the report as JSON")
    add_config(status)
    status.set_defaults(run=show_status)
    replay = actions.add_parser(
        "replay",
        help="put back on the bus what the relay missed since a time (read back from Salesforce)",
    )
    replay.add_argument("--org", required=True)
    replay.add_argument(
        "--since",
        required=True,
        type=utc_time,
        help="ISO 8601 time, e.g. 2026-12-01T09:00:00Z (Salesforce keeps events 72 h)",
    )
    add_config(replay)
    replay.set_defaults(run=run_replay)


def write_metadata(args: argparse.Namespace) -> int:
    jurisdiction = jurisdiction_of(gateway_config(args), args.jurisdiction)
    account = args.account or jurisdiction.aws_account_id
    if not account:
        raise CommandError(
            f"no AWS account for {jurisdiction.id}: pass --account or set aws_account_id "
            "in the gateway configuration"
        )
    try:
        files = relay_metadata(jurisdiction, account)
    except ValueError as error:
        raise CommandError(str(error)) from None
    base = args.out / "main" / "default"
    for relative, text in sorted(files.items()):
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path)
    print(f"next: sf project deploy start --source-dir {args.out} --target-org <alias>")
    return 0


def show_status(args: argparse.Namespace) -> int:
    from sovgw.app.bootstrap import Settings  # noqa: PLC0415 - boto3 only for this command
    from sovgw.app.relay import relay_health  # noqa: PLC0415
    from sovgw.domain.errors import RejectedInput, UpstreamUnavailable  # noqa: PLC0415

    config = gateway_config(args)
    binding = org_of(config, args.org)
    try:
        health = relay_health(config, binding, Settings.from_env())
    except (RejectedInput, UpstreamUnavailable) as error:
        raise CommandError(str(error), status=1) from None
    if args.json:
        print(json.dumps(health.as_dict(), indent=2))
    else:
        for step in health.steps:
            mark = {"ok": "ok  ", "missing": "MISS", "unchecked": "??  "}[step.state.value]
            print(f"{mark} {step.name}: {step.detail}")
            if step.next_command:
                print(f"     next: {step.next_command}")
        print(f"last relayed event: {health.last_relayed or 'none'}")
        if health.feedback_error:
            print(f"last relay error: {health.feedback_error}")
        print("delivering" if health.delivering else "NOT delivering")
    return 0 if health.delivering else 1


def run_replay(args: argparse.Namespace) -> int:
    from sovgw.app.bootstrap import Settings  # noqa: PLC0415 - boto3 only for this command
    from sovgw.app.relay import replay  # noqa: PLC0415
    from sovgw.domain.errors import RejectedInput, UpstreamUnavailable  # noqa: PLC0415

    config = gateway_config(args)
    binding = org_of(config, args.org)
    since_ms = int(args.since.timestamp() * 1000)
    try:
        outcome = replay(config, binding, since_ms, Settings.from_env())
    except (RejectedInput, UpstreamUnavailable) as error:
        raise CommandError(str(error), status=1) from None
    print(
        json.dumps(
            {
                "org": binding.org_id,
                "since": args.since.isoformat(),
                "read_back": outcome.read,
                "already_received": outcome.already_received,
                "put_back": list(outcome.put_back),
                "from_replay_ids": dict(outcome.positions),
            },
            indent=2,
        )
    )
    return 0
