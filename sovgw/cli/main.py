"""Every command, its module and its one-line help, and the one dispatch: ``args.run(args)``.

Only the module of the command being run is imported (with its imports at its top), so
``sovgw scan`` does not pay for boto3, redis or the simulator.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from importlib import import_module
from typing import NamedTuple

from sovgw.cli.errors import CommandError


class Command(NamedTuple):
    name: str
    module: str  # under sovgw.cli; it has configure(parser) next to its handlers
    help: str


COMMANDS = (
    Command("demo", "demo", "run the pipeline on the embedded local stack"),
    Command("events", "events", "sample events and their contracts"),
    Command("localstack", "localstack", "LocalStack in host mode"),
    Command("sim", "sim", "the Salesforce API simulator"),
    Command("model", "model", "model serving: local endpoint, packaging, plans"),
    Command("audit", "audit", "verify, trace and report on the audit trail"),
    Command("incident", "incident", "incidents and their legal clocks (GDPR, NIS2, FADP)"),
    Command("access", "access", "quarterly access review of an org's service accounts"),
    Command("canary", "canary", "leak canaries: plant them in an org"),
    Command("anomaly", "anomaly", "query-log anomalies: close the hours now, lift a suspension"),
    Command("policy", "policy", "routing policies: validate and explain"),
    Command("proxy", "proxy", "the OpenAI-compatible sovereign proxy"),
    Command(
        "rotate", "rotate", "rotate one Salesforce credential now (the four Secrets Manager steps)"
    ),
    Command(
        "health",
        "health",
        "an org's Salesforce API budget, breaker, credentials, suspensions (exit 1: alert)",
    ),
    Command("break-glass", "break_glass", "emergency access: request, approve, revoke"),
    Command("scan", "scan", "classify JSON Lines (text or Salesforce records)"),
    Command("export", "export", "training dataset builds: Bulk API export, then the DLP scan"),
    Command("dataset", "dataset", "training datasets: verify a build before training"),
    Command("salesforce", "salesforce", "the Salesforce half: Event Relay metadata"),
)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; the command named in ``argv`` (every command when None) fully configured."""
    parser = argparse.ArgumentParser(
        prog="sovgw", description="The operator's command line for the sovereign gateway."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        if argv is None or command.name == chosen:
            import_module(f"sovgw.cli.{command.module}").configure(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.run(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    except Exception:  # a defect: its text may quote what the command was reading
        from sovgw.logs import redact_text  # noqa: PLC0415 - the DLP engine, only on failure

        print(redact_text(traceback.format_exc()), end="", file=sys.stderr)
        return 1
    return code


def console() -> None:
    """Console-script entry point."""
    sys.exit(main())
