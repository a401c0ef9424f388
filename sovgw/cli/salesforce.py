"""``sovgw salesforce relay metadata``: the jurisdiction's Event Relay as SFDX source, for the
Salesforce admin to deploy next to ``salesforce/force-app``."""

from __future__ import annotations

import argparse
from pathlib import Path

from sovgw.adapters.salesforce.relay_metadata import relay_metadata
from sovgw.cli.common import CommandError, add_config, gateway_config, jurisdiction_of


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
