"""``sovgw access``: the quarterly access review of an org's service accounts, and the check
of reviews kept in the audit bucket."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from sovgw.cli.common import add_config, gateway_config, jurisdiction_of, org_of
from sovgw.cli.errors import CommandError


def configure(access: argparse.ArgumentParser) -> None:
    commands = access.add_subparsers(dest="access_command", required=True)
    review = commands.add_parser(
        "review",
        help="credentials, users, permission sets, last use, break-glass grants, findings",
    )
    review.add_argument("--org", required=True)
    review.add_argument("--quarter", help="e.g. 2026Q4 (default: the current quarter)")
    review.add_argument("--out-dir", type=Path, help="also write review.md and review.csv here")
    review.add_argument(
        "--no-store", action="store_true", help="do not keep it (signed) in the audit bucket"
    )
    add_config(review)
    review.set_defaults(run=run_review)
    verify = commands.add_parser("verify", help="every stored review of the org: signature, files")
    verify.add_argument("--org", required=True)
    add_config(verify)
    verify.set_defaults(run=run_verify)


def run_review(args: argparse.Namespace) -> int:
    """Prints the review as Markdown; exit 1 when it has findings (each needs a decision)."""
    from sovgw.app.access_review import run_access_review  # noqa: PLC0415 - boto3 here only
    from sovgw.app.bootstrap import Settings  # noqa: PLC0415
    from sovgw.domain.access_review import Quarter  # noqa: PLC0415

    config = gateway_config(args)
    binding = org_of(config, args.org)
    try:
        quarter = Quarter.parse(args.quarter) if args.quarter else Quarter.of(datetime.now(UTC))
    except ValueError as error:
        raise CommandError(str(error)) from None
    done = run_access_review(config, binding, quarter, Settings.from_env(), store=not args.no_store)
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for name, body in done.files.items():
            (args.out_dir / name).write_bytes(body)
    print(done.files["review.md"].decode())
    if done.location:
        print(f"kept, signed, in the audit bucket under {done.location}")
    return 1 if done.review.findings else 0


def run_verify(args: argparse.Namespace) -> int:
    from sovgw import audit_tools  # noqa: PLC0415
    from sovgw.adapters.audit_store import review_prefix  # noqa: PLC0415

    config = gateway_config(args)
    binding = org_of(config, args.org)
    store = audit_tools.open_store(jurisdiction_of(config, binding.jurisdiction))
    digests = store.reviews(binding.org_id)
    if not digests:
        raise CommandError(f"no stored review of org {binding.org_id}", status=1)
    bad = 0
    for digest in digests:
        prefix = review_prefix(digest)
        problems = store.verify_review(prefix)
        print(f"{'OK' if not problems else 'TAMPERED'} {prefix}")
        for problem in problems:
            print(f"  {problem}")
        bad += len(problems)
    return 1 if bad else 0
