"""``sovgw scan``: classify JSON Lines (free text or Salesforce records) as a stream."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sovgw.cli.errors import CommandError
from sovgw.domain.levels import DataLevel
from sovgw.scan import ScanStats, scan_stream


def configure(scan: argparse.ArgumentParser) -> None:
    scan.add_argument("file", nargs="?", default="-", help="JSON Lines file, or - for stdin")
    scan.add_argument(
        "--metadata", help="YAML {Object: {Field: LEVEL}}; unlisted fields count as PRIVILEGED"
    )
    scan.set_defaults(run=run)


def _progress(stats: ScanStats) -> None:
    print(
        f"\rscanned {stats.records} records, {stats.bytes_read / 1e6:.1f} MB, "
        f"{stats.errors} errors",
        end="",
        file=sys.stderr,
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    metadata: dict[str, dict[str, DataLevel]] = {}
    if args.metadata:
        from sovgw.policy import read_yaml  # noqa: PLC0415 - pydantic, only with --metadata

        raw = read_yaml(Path(args.metadata)) or {}
        metadata = {
            obj: {f: DataLevel.parse(level) for f, level in fields.items()}
            for obj, fields in raw.items()
        }
    show = _progress if sys.stderr.isatty() else None
    try:
        if args.file == "-":
            stats = scan_stream(sys.stdin.buffer, sys.stdout, metadata, show)
        else:
            with Path(args.file).open("rb") as source:
                stats = scan_stream(source, sys.stdout, metadata, show)
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror}") from None
    if show:
        print(file=sys.stderr)
    print(f"{stats.records} records, {stats.errors} errors", file=sys.stderr)
    return 1 if stats.errors else 0
