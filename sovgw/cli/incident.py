"""``sovgw incident``: open incidents, link evidence, record the actions that stop the legal
clocks (GDPR Art. 33, NIS2 Art. 23, FADP Art. 24), and render the report for the DPO."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import boto3

from sovgw import audit_tools
from sovgw.app.incidents import IncidentDesk, evidence_of, incident_desk
from sovgw.cli.common import add_config, gateway_config, jurisdiction_of, utc_time
from sovgw.cli.errors import CommandError
from sovgw.config import Jurisdiction
from sovgw.domain.incidents import Clock, Evidence, EvidenceKind, Incident, valid_incident_id
from sovgw.ports import IncidentEventExists
from sovgw.reports.incident import FORMATS, render, summary_line

SUBCOMMANDS = {
    "open": "open an incident; its clocks run from --aware-at",
    "evidence": "link evidence: audit traces, CloudTrail request ids, containment steps",
    "action": "record a step taken (a notification stops its clock)",
    "close": "close an incident (its clocks stop alarming)",
    "show": "the incident as Markdown",
    "list": "every incident of the jurisdiction, one line each",
    "report": "the incident for the DPO, Markdown or HTML",
    "check": "clocks at risk or missed (exit 1 when any): what the scheduled check alarms on",
}


def configure(incident: argparse.ArgumentParser) -> None:
    commands = incident.add_subparsers(dest="incident_command", required=True)
    for name, text in SUBCOMMANDS.items():
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--jurisdiction", required=True)
        add_config(command)
        command.set_defaults(run=RUNS[name])
        if name not in {"open", "list", "check"}:
            command.add_argument("incident_id")
        if name in {"open", "evidence", "action", "close"}:
            command.add_argument("--by", help="who (default: the caller's AWS identity)")
        if name in {"open", "evidence"}:
            command.add_argument(
                "--trace",
                action="append",
                default=[],
                metavar="ID",
                help="link every audit record `sovgw audit trace ID` finds (repeatable)",
            )
            command.add_argument("--cloudtrail", action="append", default=[], metavar="REQUEST_ID")
            command.add_argument(
                "--containment", action="append", default=[], metavar="STEP", help="a step taken"
            )
        if name == "open":
            command.add_argument("--title", required=True)
            command.add_argument(
                "--aware-at", type=utc_time, required=True, help="ISO time with zone"
            )
            command.add_argument("--org")
            command.add_argument(
                "--personal-data",
                action=argparse.BooleanOptionalAction,
                default=True,
                help="personal data affected (default: yes until shown otherwise)",
            )
            command.add_argument("--category", action="append", default=[], dest="categories")
            command.add_argument("--subjects", type=int, help="data subjects affected")
        if name == "action":
            command.add_argument("--clock", choices=[c.value for c in Clock])
            command.add_argument("--done-at", type=utc_time, help="when (default: now)")
            command.add_argument("--ref", help="e.g. the authority's case number")
            command.add_argument("--note")
        if name == "close":
            command.add_argument("--note", required=True)
        if name == "report":
            command.add_argument("--format", choices=FORMATS, default="md")
            command.add_argument("--out", type=Path)


def _desk(args: argparse.Namespace) -> tuple[IncidentDesk, Jurisdiction]:
    jurisdiction = jurisdiction_of(gateway_config(args), args.jurisdiction)
    return incident_desk(jurisdiction), jurisdiction


def _existing(args: argparse.Namespace) -> tuple[IncidentDesk, Jurisdiction, Incident]:
    """The desk and the incident the command names (an error when there is none)."""
    desk, jurisdiction = _desk(args)
    return desk, jurisdiction, _incident(desk, args.incident_id)


def _by(args: argparse.Namespace, jurisdiction: Jurisdiction) -> str:
    if args.by:
        return str(args.by)
    sts = boto3.session.Session(region_name=jurisdiction.region).client("sts")
    return str(sts.get_caller_identity()["Arn"])


def _incident(desk: IncidentDesk, incident_id: str) -> Incident:
    if not valid_incident_id(incident_id):
        raise CommandError(f"not an incident id: {incident_id!r} (INC-<j>-<yyyymmdd>-<hex>)")
    try:
        return desk.incident(incident_id)
    except KeyError:
        raise CommandError(f"no incident {incident_id}", status=1) from None


def _evidence(args: argparse.Namespace, jurisdiction: Jurisdiction) -> list[Evidence]:
    found: list[Evidence] = []
    if args.trace:
        store = audit_tools.open_store(jurisdiction)
        for identifier in args.trace:
            records = audit_tools.trace(store, jurisdiction, identifier)
            if not records:
                raise CommandError(f"no audit record links to {identifier}", status=1)
            found += evidence_of(records)
    found += [Evidence(kind=EvidenceKind.CLOUDTRAIL, ref=r) for r in args.cloudtrail]
    found += [
        Evidence(kind=EvidenceKind.CONTAINMENT, ref=f"step-{i}", note=step)
        for i, step in enumerate(args.containment, start=1)
    ]
    return found


def _print_clocks(incident: Incident) -> None:
    now = datetime.now(UTC)
    for deadline in incident.deadlines():
        print(
            f"  {deadline.clock.value:<28} due {deadline.due.isoformat(timespec='minutes')} "
            f"{deadline.status(now)}"
        )


def run_open(args: argparse.Namespace) -> int:
    desk, jurisdiction = _desk(args)
    try:
        incident = desk.open(
            title=args.title,
            aware_at=args.aware_at,
            by=_by(args, jurisdiction),
            personal_data=args.personal_data,
            org_id=args.org,
            data_categories=args.categories,
            data_subjects=args.subjects,
            evidence=_evidence(args, jurisdiction),
        )
    except IncidentEventExists:
        raise CommandError("this incident (same title and awareness time) is open", 1) from None
    print(f"opened {incident.id} with {len(incident.evidence)} evidence link(s); clocks:")
    _print_clocks(incident)
    return 0


def run_evidence(args: argparse.Namespace) -> int:
    desk, jurisdiction, _ = _existing(args)
    evidence = _evidence(args, jurisdiction)
    if not evidence:
        raise CommandError("give --trace, --cloudtrail or --containment")
    incident = desk.add_evidence(args.incident_id, evidence, _by(args, jurisdiction))
    print(f"{incident.id}: {len(incident.evidence)} evidence link(s)")
    return 0


def run_action(args: argparse.Namespace) -> int:
    desk, jurisdiction, _ = _existing(args)
    incident = desk.record_action(
        args.incident_id,
        by=_by(args, jurisdiction),
        clock=Clock(args.clock) if args.clock else None,
        done_at=args.done_at or datetime.now(UTC),
        ref=args.ref,
        note=args.note,
    )
    print(f"{incident.id}: action recorded; clocks:")
    _print_clocks(incident)
    return 0


def run_close(args: argparse.Namespace) -> int:
    desk, jurisdiction, _ = _existing(args)
    desk.close(args.incident_id, by=_by(args, jurisdiction), note=args.note)
    print(f"{args.incident_id}: closed")
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(render(_existing(args)[2], "md", datetime.now(UTC)))
    return 0


def run_list(args: argparse.Namespace) -> int:
    desk, _ = _desk(args)
    now = datetime.now(UTC)
    for incident in desk.incidents():
        print(summary_line(incident, now))
    return 0


def run_report(args: argparse.Namespace) -> int:
    text = render(_existing(args)[2], args.format, datetime.now(UTC))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def run_check(args: argparse.Namespace) -> int:
    desk, _ = _desk(args)
    risky = desk.at_risk()
    now = datetime.now(UTC)
    for incident, deadline in risky:
        print(
            f"{incident.id} {deadline.clock.value} due {deadline.due.isoformat(timespec='minutes')}"
            f" {deadline.status(now)}"
        )
    return 1 if risky else 0


RUNS = {
    "open": run_open,
    "evidence": run_evidence,
    "action": run_action,
    "close": run_close,
    "show": run_show,
    "list": run_list,
    "report": run_report,
    "check": run_check,
}
