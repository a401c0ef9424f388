"""``sovgw audit``: seal, verify, trace and report on a jurisdiction's audit trail."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from sovgw import audit_tools
from sovgw.adapters.audit_store import S3AuditStore
from sovgw.cli.common import add_config, gateway_config, jurisdiction_of
from sovgw.cli.errors import CommandError
from sovgw.reports.art30 import FORMATS, render

DEFAULT_MAX_AGE_MINUTES = 120  # two periods of the hourly sealer (sovgw.wiring.SCHEDULES)
SUBCOMMANDS = (
    ("seal", "sign a digest over unsealed records (the periodic sealer)"),
    ("verify", "detect modified, deleted, inserted or reordered records"),
    ("trace", "the journey of one request or Salesforce record"),
    ("report", "GDPR Article 30 record of processing"),
)


def configure(audit: argparse.ArgumentParser) -> None:
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    runs = {"seal": seal, "verify": verify, "trace": trace, "report": report}
    for name, text in SUBCOMMANDS:
        command = audit_commands.add_parser(name, help=text)
        command.add_argument("--jurisdiction", required=True)
        add_config(command)
        command.set_defaults(run=runs[name])
        if name in {"seal", "verify"}:
            command.add_argument("--org", help="one org's stream only")
        if name == "verify":
            command.add_argument("--from", dest="since", help="ISO time: digests created from")
            command.add_argument("--to", dest="until", help="ISO time: digests created until")
            command.add_argument(
                "--max-age-minutes",
                type=int,
                default=DEFAULT_MAX_AGE_MINUTES,
                help="a chain whose newest digest is older is a finding (the sealer runs hourly)",
            )
            command.add_argument(
                "--recover", action="store_true", help="show what each delete marker hides"
            )
            command.add_argument(
                "--cloudtrail-bucket", help="name who set each delete marker (S3 data events)"
            )
            command.add_argument("--cloudtrail-prefix", default="AWSLogs/")
        if name == "trace":
            command.add_argument("identifier")
            command.add_argument("--cloudtrail-bucket", help="bucket holding CloudTrail log files")
            command.add_argument("--cloudtrail-prefix", default="AWSLogs/")
        if name == "report":
            command.add_argument("--art30", action="store_true", required=True)
            command.add_argument("--format", choices=FORMATS, default="md")
            command.add_argument("--org", help="one org's record (default: every org)")
            command.add_argument("--from", dest="since", help="ISO time: records from")
            command.add_argument("--to", dest="until", help="ISO time: records before")
            command.add_argument(
                "--policy-results",
                type=Path,
                help="the policy pack's results for the stack (python -m infra.policy.evaluate)",
            )
            command.add_argument("--out", type=Path, help="write here (required for pdf)")


def _store(args: argparse.Namespace) -> S3AuditStore:
    jurisdiction = jurisdiction_of(gateway_config(args), args.jurisdiction)
    if args.audit_command != "seal":
        return audit_tools.open_store(jurisdiction)
    from sovgw.app.bootstrap import operator_audit_anchors  # noqa: PLC0415

    return audit_tools.open_store(jurisdiction, operator_audit_anchors(jurisdiction))


def _store_and_streams(args: argparse.Namespace) -> tuple[S3AuditStore, list[str]]:
    """The one org's stream, or every stream of the jurisdiction: those in the bucket and
    those its newest manifest names (a vanished stream is still verified)."""
    store = _store(args)
    if getattr(args, "org", None):
        return store, [f"{args.jurisdiction}/{args.org}"]
    newest = store.newest_manifest(args.jurisdiction)
    named = set(newest[1].heads) if newest else set()
    return store, sorted(set(store.streams(args.jurisdiction)) | named)


def seal(args: argparse.Namespace) -> int:
    """One org's stream, or a whole sealing run (every stream, then the manifest)."""
    if args.org:
        store, streams = _store_and_streams(args)
        digests = {stream: store.seal(stream) for stream in streams}
    else:
        digests, manifest = _store(args).seal_jurisdiction(args.jurisdiction)
    for stream, digest in digests.items():
        done = (
            f"digest #{digest.sequence}, {len(digest.entries)} records"
            if digest
            else "nothing to seal"
        )
        print(f"{stream}: {done}")
    if not args.org:
        print(f"manifest #{manifest.sequence}: {len(manifest.heads)} streams")
    return 0


def verify(args: argparse.Namespace) -> int:
    """One line per stream, one per finding under it; exit 1 on any finding."""
    store, streams = _store_and_streams(args)
    since, until = _time(args.since), _time(args.until)
    principals = (
        audit_tools.deleters(store.s3, args.cloudtrail_bucket, args.cloudtrail_prefix, store.bucket)
        if args.cloudtrail_bucket
        else None
    )
    now = datetime.now(UTC)
    bad = 0
    for stream in streams:
        result = store.verify(
            stream,
            since,
            until,
            max_age_s=args.max_age_minutes * 60,
            now=now,
            principals=principals,
        )
        status = "OK" if result.ok else "TAMPERED"
        newest = (
            f", newest digest {int((now - result.newest_digest).total_seconds() // 60)} min ago"
            if result.newest_digest
            else ", no digest yet"
        )
        print(
            f"{status} {stream}: {result.records} sealed records in {result.digests} digests, "
            f"{result.unsealed} not yet sealed{newest}"
        )
        for problem in result.problems:
            print(f"  {problem}")
        if args.recover:
            for marker in result.hidden:
                kept = store.recover(marker)
                shown = kept.decode("utf-8", "replace") if kept else "(nothing kept)"
                print(f"  recovered {marker.key} version {marker.hides}: {shown}")
        bad += len(result.problems)
    if not args.org:
        findings = store.verify_jurisdiction(args.jurisdiction)
        last = store.newest_manifest(args.jurisdiction)
        newest = f"#{last[1].sequence}" if last else "none yet"
        print(f"{'OK' if not findings else 'TAMPERED'} manifest {args.jurisdiction}: {newest}")
        for problem in findings:
            print(f"  {problem}")
        bad += len(findings)
    return 1 if bad else 0


def trace(args: argparse.Namespace) -> int:
    jurisdiction = jurisdiction_of(gateway_config(args), args.jurisdiction)
    store = audit_tools.open_store(jurisdiction)
    records = audit_tools.trace(store, jurisdiction, args.identifier)
    trail: dict[str, list[dict[str, object]]] = {}
    if args.cloudtrail_bucket:
        trail = audit_tools.cloudtrail_events(
            store.s3, args.cloudtrail_bucket, args.cloudtrail_prefix
        )
    if not records:
        print(f"no audit record links to {args.identifier}")
        return 1
    for record in records:
        where = f"{record.endpoint}@{record.region}" if record.endpoint else (record.region or "-")
        call = record.salesforce_call
        if call is not None:  # a query-log entry: which Salesforce resource, how many rows
            where = (
                f"{call.method} {call.resource} rows={call.rows if call.rows is not None else '-'}"
            )
        print(
            f"{record.time.isoformat()} {record.stage.value:<17} {record.outcome.value:<8} "
            f"{(record.data_level or '-'):<12} {where:<32} "
            f"rule={record.rule_id or '-'} id={record.record_id}"
        )
        for request_id in record.links.aws_request_ids:
            for event in trail.get(request_id, []):
                print(
                    f"    cloudtrail {event.get('eventTime')} {event.get('eventSource')} "
                    f"{event.get('eventName')} {event.get('awsRegion')} requestID={request_id}"
                )
    return 0


def report(args: argparse.Namespace) -> int:
    """The Art. 30 record; exit 1 when data left the jurisdiction or the chain is broken (the
    other gaps are listed in the record and counted on stderr)."""
    config = gateway_config(args)
    jurisdiction = jurisdiction_of(config, args.jurisdiction)
    if args.format == "pdf" and args.out is None:
        raise CommandError("--format pdf writes a file: give --out report.pdf")
    art30 = audit_tools.art30(
        config,
        jurisdiction,
        org=args.org,
        since=_time(args.since),
        until=_time(args.until),
        policy_results=args.policy_results,
    )
    if args.format == "pdf":
        from sovgw.adapters.chromium import ChromiumMissing, print_pdf  # noqa: PLC0415

        try:
            print_pdf(render(art30, "html"), args.out)
        except ChromiumMissing as error:
            raise CommandError(str(error)) from None
    elif args.out is not None:
        args.out.write_text(render(art30, args.format), encoding="utf-8")
    else:
        print(render(art30, args.format), end="")
    if args.out is not None:
        print(f"wrote {args.out}", file=sys.stderr)
    if art30.gaps:
        print(f"{len(art30.gaps)} gap(s): " + "; ".join(art30.gaps), file=sys.stderr)
    broken = art30.transfers or any(not c.ok for c in art30.chain)
    return 1 if broken else 0


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"not an ISO time: {value!r} (e.g. 2026-11-01 or 2026-11-01T00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
