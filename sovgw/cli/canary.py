"""``sovgw canary plant``: leak canaries for an org (a case no purpose reads, its values
sealed in Secrets Manager); the proxy refuses and raises an incident when one leaves."""

from __future__ import annotations

import argparse
import os

from sovgw.cli.common import add_config, gateway_config, jurisdiction_of, org_of
from sovgw.cli.errors import CommandError

ADMIN_TOKEN_ENV = "SOVGW_SALESFORCE_ADMIN_TOKEN"  # noqa: S105 - the name of a variable


def configure(canary: argparse.ArgumentParser) -> None:
    commands = canary.add_subparsers(dest="canary_command", required=True)
    plant = commands.add_parser("plant", help="plant new canaries in an org")
    plant.add_argument("--org", required=True)
    plant.add_argument("--instance-url", required=True, help="the org's My Domain URL")
    add_config(plant)
    plant.set_defaults(run=run_plant)


def run_plant(args: argparse.Namespace) -> int:
    """Needs an administrator's own short-lived session in $SOVGW_SALESFORCE_ADMIN_TOKEN
    (e.g. from ``sf org display``): the gateway's users cannot create records, by design."""
    from sovgw.app.bootstrap import Settings  # noqa: PLC0415 - boto3 only for this command
    from sovgw.app.canaries import plant_canaries  # noqa: PLC0415

    token = os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        raise CommandError(f"set {ADMIN_TOKEN_ENV} to an administrator's session")
    config = gateway_config(args)
    binding = org_of(config, args.org)
    jurisdiction = jurisdiction_of(config, binding.jurisdiction)
    planted = plant_canaries(
        jurisdiction,
        binding,
        args.instance_url,
        token,
        Settings.from_env().salesforce_ca_bundle,
    )
    print(
        f"planted {len(planted.canaries)} canaries in case {planted.record_id} of org "
        f"{binding.org_id}; the values are sealed in Secrets Manager, never printed"
    )
    return 0
