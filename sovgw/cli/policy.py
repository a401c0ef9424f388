"""``sovgw policy``: validate a routing policy and explain its decisions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sovgw.cli.common import add_config, gateway_config
from sovgw.policy_tools import check_policy, explain


def configure(policy: argparse.ArgumentParser) -> None:
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check_parser = policy_commands.add_parser(
        "check", help="validate a policy, print its decisions"
    )
    check_parser.add_argument("file")
    check_parser.add_argument("--json", action="store_true", help="the decision table as JSON")
    check_parser.set_defaults(run=check)
    explain_parser = policy_commands.add_parser(
        "explain", help="what happens to data of a level and purpose (exit 3: denied)"
    )
    explain_parser.add_argument("--level", required=True)
    explain_parser.add_argument("--purpose", required=True)
    explain_parser.add_argument("--jurisdiction", required=True)
    explain_parser.add_argument(
        "--residual-level", help="level once pseudonymised (default: the level itself)"
    )
    explain_parser.set_defaults(run=explain_decision)
    for command in (check_parser, explain_parser):
        add_config(command)


def check(args: argparse.Namespace) -> int:
    return check_policy(Path(args.file), gateway_config(args), sys.stdout, as_json=args.json)


def explain_decision(args: argparse.Namespace) -> int:
    return explain(
        gateway_config(args),
        args.jurisdiction,
        args.level,
        args.purpose,
        residual_level=args.residual_level,
        out=sys.stdout,
    )
