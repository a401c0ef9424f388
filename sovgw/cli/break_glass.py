"""``sovgw break-glass``: request, approve, revoke and inspect emergency access grants."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from sovgw.app.bootstrap import operator_dependencies
from sovgw.app.break_glass import break_glass_service
from sovgw.cli.common import add_config, gateway_config, org_of
from sovgw.cli.errors import CommandError
from sovgw.domain.break_glass import BreakGlassRequest, BreakGlassService, Grant
from sovgw.domain.errors import GatewayError


def configure(bg: argparse.ArgumentParser) -> None:
    actions = bg.add_subparsers(dest="action", required=True)
    request_parser = actions.add_parser("request", help="ask for time-bound emergency access")
    request_parser.add_argument("--requested-by", required=True, help="Salesforce user id (005...)")
    request_parser.add_argument("--user", help="who gets access (default: the requester)")
    request_parser.add_argument("--reason", required=True)
    request_parser.add_argument("--case", required=True, help="case or matter reference")
    request_parser.add_argument("--scope", required=True, help="e.g. Case:read, aws:<role>")
    request_parser.add_argument("--duration", required=True, type=int, help="minutes")
    request_parser.add_argument("--request-id", help="idempotency key (default: a new uuid)")
    request_parser.set_defaults(act=request)
    approve_parser = actions.add_parser("approve", help="a second person approves")
    approve_parser.add_argument("id")
    approve_parser.add_argument("--approver", required=True)
    approve_parser.set_defaults(act=approve)
    revoke_parser = actions.add_parser("revoke", help="end a grant now")
    revoke_parser.add_argument("id")
    revoke_parser.add_argument("--by", required=True)
    revoke_parser.set_defaults(act=revoke)
    show_parser = actions.add_parser("show", help="one request or grant")
    show_parser.add_argument("id")
    show_parser.set_defaults(act=show)
    list_parser = actions.add_parser("list", help="the org's requests and grants")
    list_parser.set_defaults(act=list_grants)
    for command in (request_parser, approve_parser, revoke_parser, show_parser, list_parser):
        command.add_argument("--org", required=True)
        add_config(command)
        command.set_defaults(run=run)


type Result = Grant | list[Grant]


def request(service: BreakGlassService, org_id: str, args: argparse.Namespace) -> Result:
    return service.request(
        BreakGlassRequest(
            request_id=args.request_id or str(uuid.uuid4()),
            org_id=org_id,
            jurisdiction=service.jurisdiction,
            requested_by=args.requested_by,
            target_user=args.user or args.requested_by,
            reason=args.reason or "",
            case_reference=args.case or "",
            scope=args.scope or "",
            duration_s=int(args.duration) * 60,
        )
    )


def approve(service: BreakGlassService, org_id: str, args: argparse.Namespace) -> Result:
    return service.approve(org_id, args.id, args.approver)


def revoke(service: BreakGlassService, org_id: str, args: argparse.Namespace) -> Result:
    return service.revoke(org_id, args.id, by=args.by)


def show(service: BreakGlassService, org_id: str, args: argparse.Namespace) -> Result:
    grant = service.store.get(org_id, args.id)
    if grant is None:
        raise CommandError(f"no break-glass request {args.id}", status=1)
    return grant


def list_grants(service: BreakGlassService, org_id: str, args: argparse.Namespace) -> Result:
    return service.store.list(org_id)


def run(args: argparse.Namespace) -> int:
    config = gateway_config(args)
    org = org_of(config, args.org)
    service = break_glass_service(operator_dependencies(config, org.jurisdiction))
    try:
        result = args.act(service, org.org_id, args)
    except (GatewayError, ValueError) as error:
        raise CommandError(f"refused: {error}", status=1) from None
    shown: Any = [g.view() for g in result] if isinstance(result, list) else result.view()
    print(json.dumps(shown, indent=2))
    return 0
