"""Residency-aware routing: which endpoint may receive data of a level (issue #4 deepens it).

Default deny. Only endpoints inside the jurisdiction's allowed regions are ever candidates,
whatever else the configuration says, so a misconfigured endpoint cannot move data abroad.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sovgw.config import Jurisdiction, ModelEndpoint, TrustTier
from sovgw.domain.levels import DataLevel

RULE_SOVEREIGN_IN_REGION = "residency.sovereign-in-region"
RULE_PUBLIC_EXTERNAL = "residency.public-may-use-external"
RULE_DEFAULT_DENY = "default-deny"


class RouteDecision(BaseModel):
    """The outcome of routing, with the reason an auditor needs."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    rule_id: str
    reason: str
    endpoint: ModelEndpoint | None = None
    excluded: tuple[str, ...] = ()


def decide_route(level: DataLevel, jurisdiction: Jurisdiction) -> RouteDecision:
    """Pick the endpoint for data of ``level`` in ``jurisdiction``, or deny with a reason."""
    in_region: list[ModelEndpoint] = []
    excluded: list[str] = []
    for endpoint in jurisdiction.endpoints:
        if endpoint.region in jurisdiction.allowed_regions:
            in_region.append(endpoint)
        else:
            excluded.append(f"{endpoint.ref}: region outside {jurisdiction.id}")

    sovereign = [e for e in in_region if e.tier is TrustTier.SOVEREIGN]
    if sovereign:
        chosen = sovereign[0]
        return RouteDecision(
            allowed=True,
            rule_id=RULE_SOVEREIGN_IN_REGION,
            reason=f"{level} data to sovereign endpoint in {chosen.region}",
            endpoint=chosen,
            excluded=tuple(excluded),
        )
    external = [e for e in in_region if e.tier is TrustTier.EXTERNAL]
    if level is DataLevel.PUBLIC and jurisdiction.allow_external_for_public and external:
        return RouteDecision(
            allowed=True,
            rule_id=RULE_PUBLIC_EXTERNAL,
            reason="public data; jurisdiction allows external endpoints in-region",
            endpoint=external[0],
            excluded=tuple(excluded),
        )
    return RouteDecision(
        allowed=False,
        rule_id=RULE_DEFAULT_DENY,
        reason=f"no endpoint in {', '.join(jurisdiction.allowed_regions)} may receive {level} data",
        excluded=tuple(excluded),
    )
