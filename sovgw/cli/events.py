"""``sovgw events``: sample events against their contracts, and the contracts' JSON Schemas."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sovgw.contracts import ContractError, validate_event, write_json_schemas


def configure(events: argparse.ArgumentParser) -> None:
    event_commands = events.add_subparsers(dest="events_command", required=True)
    validate = event_commands.add_parser(
        "validate", help="check event files against their contract"
    )
    validate.add_argument("files", nargs="+")
    validate.set_defaults(run=validate_files)
    schemas = event_commands.add_parser("schemas", help="write the JSON Schemas of all contracts")
    schemas.add_argument("--write", required=True, metavar="DIR")
    schemas.set_defaults(run=write_schemas)


def validate_files(args: argparse.Namespace) -> int:
    failures = 0
    for name in args.files:
        path = Path(name)
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(event, dict):
                raise ContractError("an event must be a JSON object")
            contract = validate_event(event)
        except (OSError, json.JSONDecodeError, ContractError) as error:
            failures += 1
            print(f"INVALID {path}: {type(error).__name__}: {error}")
            continue
        print(f"OK      {path}: {contract.name}")
    return 1 if failures else 0


def write_schemas(args: argparse.Namespace) -> int:
    for path in write_json_schemas(Path(args.write)):
        print(f"wrote {path}")
    return 0
