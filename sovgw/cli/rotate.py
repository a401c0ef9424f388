"""``sovgw rotate``: one Salesforce credential rotated now, the four Secrets Manager steps."""

from __future__ import annotations

import argparse

from sovgw.app.bootstrap import operator_dependencies
from sovgw.app.rotation import rotate_now
from sovgw.cli.common import add_config, gateway_config, jurisdiction_of
from sovgw.cli.errors import CommandError
from sovgw.domain.errors import GatewayError


def configure(rotate: argparse.ArgumentParser) -> None:
    rotate.add_argument("--secret", required=True, help="e.g. sovgw/eu-de/salesforce/<org>/b")
    rotate.add_argument("--jurisdiction", required=True)
    add_config(rotate)
    rotate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = gateway_config(args)
    jurisdiction = jurisdiction_of(config, args.jurisdiction)
    deps = operator_dependencies(config, jurisdiction.id)
    try:
        for line in rotate_now(deps, args.secret):
            print(line)
    except GatewayError as error:
        raise CommandError(
            f"rotation failed, the current secret is unchanged: {error}", status=1
        ) from None
    return 0
