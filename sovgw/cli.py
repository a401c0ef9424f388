"""``sovgw``: the operator's command line for the sovereign gateway."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sovgw.contracts import ContractError, validate_event, write_json_schemas


def _events_validate(args: argparse.Namespace) -> int:
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


def _events_schemas(args: argparse.Namespace) -> int:
    for path in write_json_schemas(Path(args.write)):
        print(f"wrote {path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    root = Path(args.root).resolve()
    if not (root / "config" / "gateway.yaml").exists():
        print(
            f"error: {root} is not the sovgw repository (config/gateway.yaml missing)",
            file=sys.stderr,
        )
        return 2
    from sovgw.local.demo import run_demo  # noqa: PLC0415 - heavy imports only for this command

    return run_demo(root, timeout=args.timeout)


def _localstack(args: argparse.Namespace) -> int:
    from sovgw.local.localstack import (  # noqa: PLC0415
        health,
        start_localstack,
        stop_from_pid_file,
    )

    state = Path(args.state_dir)
    if args.action == "start":
        process = start_localstack(Path(args.venv), state, args.port)
        print(f"LocalStack healthy at {process.url} (pid {process.pid or 'not ours'})")
    elif args.action == "stop":
        print(
            "stopped" if stop_from_pid_file(state) else "no LocalStack started by sovgw is running"
        )
    else:
        status = health(f"http://127.0.0.1:{args.port}")
        print(json.dumps(status, indent=2) if status else "not running")
        return 0 if status else 1
    return 0


def _sim_serve(args: argparse.Namespace) -> int:
    from sovgw.sfsim.server import SalesforceSimulatorServer  # noqa: PLC0415

    server = SalesforceSimulatorServer(port=args.port, state_dir=Path(args.state_dir)).start()
    print(f"Salesforce simulator on {server.url} (CA bundle: {server.ca_bundle}); Ctrl-C stops it")
    return _wait_forever(server.stop)


def _model_serve(args: argparse.Namespace) -> int:
    from model_serving.backends import Backend, DeterministicBackend, TransformersBackend  # noqa: PLC0415
    from model_serving.server import ServedEndpoints, serve_in_background  # noqa: PLC0415
    from sovgw.config import load_config  # noqa: PLC0415

    config = load_config(Path(args.config))
    backend: Backend = (
        TransformersBackend(Path(args.model_dir))
        if args.backend == "transformers"
        else DeterministicBackend()
    )
    served = ServedEndpoints(
        {(e.region, e.name) for j in config.jurisdictions for e in j.endpoints}, backend
    )
    server = serve_in_background(served, port=args.port)
    print(f"model endpoint on {server.url}: {sorted(served.endpoints)}; Ctrl-C stops it")
    return _wait_forever(server.stop)


def _wait_forever(stop: object) -> int:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop()  # type: ignore[operator]
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sovgw", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the pipeline on the embedded local stack")
    demo.add_argument("--root", default=".", help="repository root")
    demo.add_argument("--timeout", type=float, default=120.0)
    demo.set_defaults(run=_demo)

    events = commands.add_parser("events", help="sample events and their contracts")
    event_commands = events.add_subparsers(dest="events_command", required=True)
    validate = event_commands.add_parser(
        "validate", help="check event files against their contract"
    )
    validate.add_argument("files", nargs="+")
    validate.set_defaults(run=_events_validate)
    schemas = event_commands.add_parser("schemas", help="write the JSON Schemas of all contracts")
    schemas.add_argument("--write", required=True, metavar="DIR")
    schemas.set_defaults(run=_events_schemas)

    localstack = commands.add_parser("localstack", help="LocalStack in host mode")
    localstack.add_argument("action", choices=["start", "stop", "status"])
    localstack.add_argument("--venv", default=".localstack-venv")
    localstack.add_argument("--state-dir", default=".run/localstack")
    localstack.add_argument("--port", type=int, default=4566)
    localstack.set_defaults(run=_localstack)

    sim = commands.add_parser("sim", help="the Salesforce API simulator")
    sim.add_argument("action", choices=["serve"])
    sim.add_argument("--port", type=int, default=8443)
    sim.add_argument("--state-dir", default=".run/sfsim")
    sim.set_defaults(run=_sim_serve)

    model = commands.add_parser("model", help="the local model endpoint")
    model.add_argument("action", choices=["serve"])
    model.add_argument("--port", type=int, default=8080)
    model.add_argument("--config", default="config/gateway.yaml")
    model.add_argument(
        "--backend", choices=["deterministic", "transformers"], default="deterministic"
    )
    model.add_argument("--model-dir", default=None)
    model.set_defaults(run=_model_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


def console() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    console()
