"""``sovgw dataset verify D --org O``: re-check a build's curated output before training.

Exit 0: every hash matches the manifest, the manifest reconciles and no curated value holds
anything above the dataset's allowed level; 1 otherwise. Either way an audit record says so.
"""

from __future__ import annotations

import argparse
import json

from sovgw.app.bootstrap import operator_dependencies
from sovgw.app.datasets import latest_build, verify_build
from sovgw.cli.common import add_config, gateway_config, org_of
from sovgw.cli.errors import CommandError
from sovgw.domain.errors import GatewayError


def configure(dataset: argparse.ArgumentParser) -> None:
    actions = dataset.add_subparsers(dest="action", required=True)
    check = actions.add_parser("verify", help="re-scan a build's curated output and hashes")
    check.add_argument("dataset")
    check.add_argument("--org", required=True)
    check.add_argument("--build", help="a build id (default: the latest)")
    add_config(check)
    check.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    config = gateway_config(args)
    binding = org_of(config, args.org)
    deps = operator_dependencies(config, binding.jurisdiction)
    try:
        build_id = args.build
        if build_id is None:
            latest = latest_build(deps.datasets, args.dataset)
            if latest is None:
                raise CommandError(f"dataset {args.dataset} has no build", status=1)
            build_id = latest.build_id
        report = verify_build(deps, args.dataset, build_id)
    except GatewayError as error:
        raise CommandError(str(error), status=1) from None
    print(json.dumps({**report.model_dump(), "passed": report.passed}, indent=2))
    return 0 if report.passed else 1
