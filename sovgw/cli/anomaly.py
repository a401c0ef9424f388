"""``sovgw anomaly``: close the query log's ended hours now (what the scheduled watcher does),
and lift a suspension an anomaly set, with the reason recorded in the audit trail.
``sovgw health --org O`` shows who is suspended and why."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sovgw.cli.common import add_config, gateway_config, jurisdiction_of, org_of
from sovgw.cli.errors import CommandError
from sovgw.domain.errors import RejectedInput

if TYPE_CHECKING:
    from sovgw.config import GatewayConfig
    from sovgw.ports import AnomalyStore, AuditSink


def configure(anomaly: argparse.ArgumentParser) -> None:
    commands = anomaly.add_subparsers(dest="anomaly_command", required=True)
    watch = commands.add_parser("watch", help="close every ended hour of the query log now")
    watch.add_argument("--jurisdiction", required=True)
    add_config(watch)
    watch.set_defaults(run=run_watch)
    lift = commands.add_parser("lift", help="reopen a suspended principal's lanes in an org")
    lift.add_argument("--org", required=True)
    lift.add_argument("--principal", required=True, help="as sovgw health names it")
    lift.add_argument("--reason", required=True, help="why (the audit record keeps it)")
    add_config(lift)
    lift.set_defaults(run=run_lift)


def _store_and_audit(config: GatewayConfig, jurisdiction_id: str) -> tuple[AnomalyStore, AuditSink]:
    """The jurisdiction's anomaly store and audit sink, reached as the functions reach them
    (the shared store from $SOVGW_BUDGET_STORE_URL)."""
    from sovgw.app.anomaly import anomaly_store  # noqa: PLC0415
    from sovgw.app.bootstrap import operator_dependencies  # noqa: PLC0415

    deps = operator_dependencies(config, jurisdiction_id)
    try:
        return anomaly_store(deps), deps.audit
    except RejectedInput as error:
        raise CommandError(str(error)) from None


def run_watch(args: argparse.Namespace) -> int:
    """Exit 1 when a principal of the jurisdiction is suspended (as the alarm would be)."""
    from sovgw.app.anomaly import watch_anomalies  # noqa: PLC0415

    config = gateway_config(args)
    jurisdiction = jurisdiction_of(config, args.jurisdiction)
    store, audit = _store_and_audit(config, jurisdiction.id)
    datasets = Path(args.config).parent / "datasets"
    run = watch_anomalies(
        store,
        audit,
        config,
        jurisdiction,
        now=datetime.now(UTC),
        datasets=datasets,
        emit_metric=False,
    )
    if run.busy:
        raise CommandError("another watcher is closing this jurisdiction's hours; try later")
    report = {
        "jurisdiction": jurisdiction.id,
        "hours_closed": len(run.closed),
        "flags": [
            {
                "org_id": flag.org_id,
                "principal": flag.principal,
                "sobject": flag.sobject,
                "kind": flag.kind,
                "detail": flag.detail,
                "audit_record": record_id,
            }
            for flag, record_id in run.flags
        ],
        "suspended": run.suspended,
    }
    print(json.dumps(report, indent=2))
    return 1 if any(run.suspended.values()) else 0


def run_lift(args: argparse.Namespace) -> int:
    from sovgw.app.anomaly import lift_suspension  # noqa: PLC0415

    config = gateway_config(args)
    binding = org_of(config, args.org)
    store, audit = _store_and_audit(config, binding.jurisdiction)
    try:
        lifted = lift_suspension(
            store,
            audit,
            binding.jurisdiction,
            org_id=binding.org_id,
            principal=args.principal,
            reason=args.reason,
        )
    except RejectedInput as error:
        raise CommandError(str(error)) from None
    print(
        f"lifted: {args.principal} in org {binding.org_id} may use its non-emergency lanes "
        f"again (suspended by audit record {lifted.evidence})"
    )
    return 0
