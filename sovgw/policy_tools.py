"""``sovgw policy check`` and ``sovgw policy explain``: a policy's decisions before it ships."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from sovgw.config import GatewayConfig, Jurisdiction
from sovgw.domain.levels import DataLevel
from sovgw.domain.routing import RouteDecision, RouteQuery, decide_route
from sovgw.policy import ANY_PURPOSE, RoutingPolicy, read_yaml

EXIT_ALLOWED, EXIT_INVALID, EXIT_DENIED = 0, 1, 3
OTHER_PURPOSE = "(any other)"


def _cell(decision: RouteDecision) -> str:
    if decision.allowed:
        return "ALLOW " + " > ".join(e.ref for e in decision.endpoints)
    return f"DENY  ({decision.rule_id})"


def decision_table(jurisdiction: Jurisdiction) -> list[dict[str, Any]]:
    """Every level and purpose the policy names, as classified and once pseudonymised."""
    purposes = [p for p in jurisdiction.policy.purposes if p != ANY_PURPOSE] + [OTHER_PURPOSE]
    rows: list[dict[str, Any]] = []
    for level in DataLevel:
        for purpose in purposes:
            raw = decide_route(RouteQuery(level=level, purpose=purpose), jurisdiction)
            masked = decide_route(
                RouteQuery(
                    level=level,
                    purpose=purpose,
                    residual_level=DataLevel.PRIVILEGED
                    if level is DataLevel.PRIVILEGED
                    else DataLevel.PUBLIC,
                ),
                jurisdiction,
            )
            rows.append(
                {
                    "level": level.value,
                    "purpose": purpose,
                    "as_classified": raw.explanation(),
                    "pseudonymised": masked.explanation(),
                    "_cells": (_cell(raw), _cell(masked)),
                }
            )
    return rows


def check_policy(path: Path, config: GatewayConfig, out: TextIO, as_json: bool = False) -> int:
    """Validate ``path`` against the gateway's jurisdictions and print its decision table."""
    try:
        policy = RoutingPolicy.model_validate(read_yaml(path))
    except (OSError, ValueError, ValidationError, yaml.YAMLError) as error:
        print(f"INVALID {path}: {error}", file=out)
        return EXIT_INVALID
    known = config.jurisdiction(policy.jurisdiction)
    if known is None:
        print(f"INVALID {path}: jurisdiction {policy.jurisdiction!r} is not configured", file=out)
        return EXIT_INVALID
    jurisdiction = known.model_copy(update={"policy": policy})
    rows = decision_table(jurisdiction)
    if as_json:
        for row in rows:
            row.pop("_cells")
        json.dump({"policy": str(path), "version": policy.version, "table": rows}, out, indent=2)
        print(file=out)
        return EXIT_ALLOWED
    print(
        f"OK {path}: policy {policy.version} of {policy.jurisdiction} "
        f"(allowed regions {', '.join(jurisdiction.allowed_regions)}); "
        f"{len(policy.destinations)} destinations, {len(policy.rules)} rules",
        file=out,
    )
    for endpoint in policy.destinations:
        outside = endpoint.region not in jurisdiction.allowed_regions
        flag = "  EXCLUDED: outside the jurisdiction" if outside else ""
        print(
            f"  destination {endpoint.name}: {endpoint.upstream} ({endpoint.tier}){flag}", file=out
        )
    width = max(len(r["purpose"]) for r in rows)
    print(f"\n  {'level':<12} {'purpose':<{width}}  as classified / pseudonymised", file=out)
    for row in rows:
        raw, masked = row["_cells"]
        print(f"  {row['level']:<12} {row['purpose']:<{width}}  {raw}", file=out)
        if masked != raw:
            print(f"  {'':<12} {'':<{width}}  {masked} (once pseudonymised)", file=out)
    return EXIT_ALLOWED


def explain(
    config: GatewayConfig,
    jurisdiction_id: str,
    level: str,
    purpose: str,
    *,
    residual_level: str | None,
    out: TextIO,
) -> int:
    """What would happen to data of ``level`` for ``purpose`` in ``jurisdiction_id``.

    Unknown jurisdictions and levels are denials (fail closed), reported as such.
    """
    jurisdiction = config.jurisdiction(jurisdiction_id)
    problems = []
    if jurisdiction is None:
        problems.append(f"unknown jurisdiction {jurisdiction_id!r}: every request is denied")
    for name, value in (("level", level), ("residual level", residual_level)):
        if value is not None and value.strip().upper() not in DataLevel.__members__:
            problems.append(f"unknown {name} {value!r}: denied (fail closed)")
    if problems or jurisdiction is None:
        json.dump({"allowed": False, "reason": "; ".join(problems)}, out, indent=2)
        print(file=out)
        return EXIT_DENIED
    decision = decide_route(
        RouteQuery(
            level=DataLevel.parse(level),
            purpose=purpose,
            residual_level=DataLevel.parse(residual_level) if residual_level else None,
        ),
        jurisdiction,
    )
    json.dump(decision.explanation(), out, indent=2)
    print(file=out)
    return EXIT_ALLOWED if decision.allowed else EXIT_DENIED
