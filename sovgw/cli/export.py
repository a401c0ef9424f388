"""``sovgw export start|status|resume --org O --dataset D``: a training dataset build.

The export (Bulk API 2.0 on the ROUTINE lane → raw part files) then the scan (one work item
per part → curated, quarantine, rejected, and the reconciling manifest). Exit 0: built and
reconciled; 1: failed or not reconciled; 75 (EX_TEMPFAIL): paused, ``resume`` continues.

Run it where the data may be: in the jurisdiction's region (a host in the stack's VPC), as
the pages pass through this process on their way to the bucket.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sovgw.app.bootstrap import Dependencies, Settings, operator_dependencies
from sovgw.app.datasets import (
    continue_build,
    exporter_for,
    latest_build,
    load_build,
    manifest_key,
    scan_input,
    start_build,
)
from sovgw.cli.common import add_config, gateway_config, org_of
from sovgw.cli.errors import CommandError
from sovgw.domain.datasets import load_dataset
from sovgw.domain.errors import GatewayError
from sovgw.domain.export import BuildState, ExportPaused

DEFAULT_DATASETS = "config/datasets"
EX_TEMPFAIL = 75
STATE_MACHINE_ENV = "SOVGW_DATASET_STATE_MACHINE_ARN"


def configure(export: argparse.ArgumentParser) -> None:
    actions = export.add_subparsers(dest="action", required=True)
    for name, run, help_text in (
        ("start", run_start, "start a new build of the dataset"),
        ("resume", run_resume, "continue the dataset's latest (or named) build"),
        ("status", run_status, "where the dataset's latest (or named) build stands"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("--org", required=True)
        action.add_argument("--dataset", required=True)
        action.add_argument("--datasets", default=DEFAULT_DATASETS, help="definitions directory")
        add_config(action)
        if name != "start":
            action.add_argument("--build", help="a build id (default: the latest)")
        if name != "status":
            action.add_argument(
                "--scan",
                choices=("stepfunctions", "here", "none"),
                default=None,
                help=f"where the parts are scanned: the state machine (${STATE_MACHINE_ENV}, "
                "the default when set), in this process (the local stack), or not now",
            )
            action.add_argument("--workers", type=int, default=1, help="processes for --scan here")
            action.add_argument("--poll-seconds", type=float, default=5.0)
        action.set_defaults(run=run)


def _context(args: argparse.Namespace) -> tuple[Dependencies, str]:
    config = gateway_config(args)
    binding = org_of(config, args.org)
    return operator_dependencies(config, binding.jurisdiction), binding.org_id


def _backoff(seconds: float) -> Callable[[int], None]:
    """Wait before status poll ``n``: ``seconds``, growing by half each poll, at most 60 s."""
    return lambda poll: time.sleep(min(seconds * (1.5 ** min(poll, 8)), 60.0))


def run_start(args: argparse.Namespace) -> int:
    try:
        definition = load_dataset(Path(args.datasets), args.dataset)
    except ValueError as error:
        raise CommandError(str(error)) from None
    deps, org_id = _context(args)
    exporter = exporter_for(deps, org_id, _backoff(args.poll_seconds))
    return _finish(args, deps, lambda: start_build(deps, exporter, definition, org_id))


def run_resume(args: argparse.Namespace) -> int:
    deps, org_id = _context(args)
    state = _build(args, deps)
    exporter = exporter_for(deps, org_id, _backoff(args.poll_seconds))
    return _finish(args, deps, lambda: continue_build(deps, exporter, state))


def run_status(args: argparse.Namespace) -> int:
    deps, _ = _context(args)
    state = _build(args, deps)
    report = _summary(state)
    manifest = deps.datasets.get(manifest_key(state.definition.id, state.build_id))
    if manifest is not None:
        document = json.loads(manifest)
        report["manifest"] = {
            k: document[k] for k in ("totals", "reasons", "reconciled", "problems")
        }
    print(json.dumps(report, indent=2))
    return 0


def _build(args: argparse.Namespace, deps: Dependencies) -> BuildState:
    try:
        if args.build:
            return load_build(deps.datasets, args.dataset, args.build)
        state = latest_build(deps.datasets, args.dataset)
    except GatewayError as error:
        raise CommandError(str(error), status=1) from None
    if state is None:
        raise CommandError(f"dataset {args.dataset} has no build: run sovgw export start", 1)
    return state


def _summary(state: BuildState) -> dict[str, Any]:
    return {
        "dataset": state.definition.id,
        "dataset_version": state.definition.version,
        "build_id": state.build_id,
        "status": state.status,
        "attempt": state.attempt,
        "bulk_jobs": state.jobs,
        "parts": len(state.parts),
        "exported_records": state.exported_records,
        "history": state.history[-5:],
    }


def _finish(args: argparse.Namespace, deps: Dependencies, export: Callable[[], BuildState]) -> int:
    """Export (start or resume), then scan the parts where ``--scan`` says."""
    try:
        state = export()
    except ExportPaused as paused:
        print(f"export paused: {paused}; run sovgw export resume to continue", file=sys.stderr)
        return EX_TEMPFAIL
    except GatewayError as error:
        raise CommandError(f"{type(error).__name__}: {error}", status=1) from None
    print(json.dumps(_summary(state), indent=2))
    if state.status != "exported":
        return 1
    scan = args.scan or ("stepfunctions" if os.environ.get(STATE_MACHINE_ENV) else "here")
    if scan == "none":
        return 0
    execution_input = scan_input(deps.datasets, state)
    if scan == "stepfunctions":
        return _start_execution(deps, execution_input)
    from sovgw.local.map_runner import run_scan_map  # noqa: PLC0415

    run = run_scan_map(
        deps,
        execution_input,
        workers=args.workers,
        config_path=str(Path(args.config).resolve()),
        settings=Settings.from_env().model_copy(update={"config_path": Path(args.config)}),
    )
    failed = [{k: o[k] for k in ("item", "status", "reason") if k in o} for o in run.failed]
    print(json.dumps({"items": run.items, "failed": failed, **run.reconcile}, indent=2))
    return 0 if run.reconcile.get("reconciled") and not run.failed else 1


def _start_execution(deps: Dependencies, execution_input: dict[str, str]) -> int:
    arn = os.environ.get(STATE_MACHINE_ENV)
    if not arn:
        raise CommandError(f"--scan stepfunctions needs {STATE_MACHINE_ENV}")
    import boto3  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    client = boto3.client("stepfunctions", region_name=deps.jurisdiction.region)
    try:
        started = client.start_execution(
            stateMachineArn=arn,
            # Named after the build: starting it again returns the same execution (Step
            # Functions is idempotent on a name with the same input).
            name=execution_input["build_id"],
            input=json.dumps(execution_input),
        )
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"the scan could not start: {error}", status=1) from None
    print(json.dumps({"execution": started["executionArn"]}))
    return 0
