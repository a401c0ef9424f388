"""Residency-aware routing: which endpoints may receive a request, from the jurisdiction's policy.

Default deny. The policy's first rule matching (level, purpose) names the candidate
destinations; the residency invariants below then exclude any destination the data may not
reach, whatever the policy says:

- a destination outside the jurisdiction's allowed regions never receives anything;
- privileged content (and secrets) only reaches ``sovereign`` endpoints;
- an ``external`` endpoint only receives what is PUBLIC once personal values are placeholders
  (``residual_level``), and only when the rule says ``external_sensitive: pseudonymise`` if
  there was anything to replace.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from sovgw.config import Jurisdiction, ModelEndpoint, TrustTier
from sovgw.domain.levels import DataLevel
from sovgw.policy import PolicyRule

RULE_DEFAULT_DENY = "default-deny"


class RouteQuery(BaseModel):
    """What routing decides on. ``residual_level`` is the level of what would leave after
    pseudonymisation (field classifications and privileged content stay); it defaults to
    ``level``, the fail-closed assumption."""

    model_config = ConfigDict(frozen=True)

    level: DataLevel
    purpose: str
    residual_level: DataLevel | None = None
    # The request holds content DLP cannot read: PRIVILEGED unless the rule allows media.
    media: bool = False

    def as_privileged(self) -> RouteQuery:
        return self.model_copy(
            update={"level": DataLevel.PRIVILEGED, "residual_level": DataLevel.PRIVILEGED}
        )

    @property
    def leaving_level(self) -> DataLevel:
        return self.residual_level or self.level


class RouteDecision(BaseModel):
    """The outcome of routing, with the explanation an auditor and the caller need."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    rule_id: str
    reason: str
    jurisdiction: str
    policy_version: str
    query: RouteQuery
    endpoints: tuple[ModelEndpoint, ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def reaches_external(self) -> bool:
        """Some allowed endpoint is a vendor's (external tier)."""
        return any(e.tier is TrustTier.EXTERNAL for e in self.endpoints)

    @property
    def endpoint(self) -> ModelEndpoint | None:
        """The preferred endpoint; the others are failover candidates in order."""
        return self.endpoints[0] if self.endpoints else None

    def explanation(self) -> dict[str, Any]:
        """The decision as plain data for responses, audit records and ``policy explain``."""
        return {
            "allowed": self.allowed,
            "rule_id": self.rule_id,
            "reason": self.reason,
            "jurisdiction": self.jurisdiction,
            "policy_version": self.policy_version,
            "level": self.query.level.value,
            "residual_level": self.query.leaving_level.value,
            "purpose": self.query.purpose,
            "candidates": [f"{e.ref} ({e.tier})" for e in self.endpoints],
            "excluded": list(self.excluded),
        }


def exclusion(
    endpoint: ModelEndpoint, query: RouteQuery, rule: PolicyRule, jurisdiction: Jurisdiction
) -> str | None:
    """Why ``endpoint`` may not receive this request, or None when it may."""
    if endpoint.region not in jurisdiction.allowed_regions:
        return (
            f"{endpoint.ref}: region {endpoint.region} is outside {jurisdiction.id} "
            f"({', '.join(jurisdiction.allowed_regions)})"
        )
    if endpoint.tier is TrustTier.SOVEREIGN:
        return None
    if DataLevel.PRIVILEGED in (query.level, query.leaving_level):
        return f"{endpoint.ref}: privileged content and secrets go only to sovereign endpoints"
    if query.leaving_level is not DataLevel.PUBLIC:
        return (
            f"{endpoint.ref}: external endpoints receive only PUBLIC data; "
            f"what would leave is {query.leaving_level}"
        )
    if query.level is not DataLevel.PUBLIC and rule.external_sensitive == "refuse":
        return f"{endpoint.ref}: rule {rule.id} refuses {query.level} data to external endpoints"
    return None


def decide_route(query: RouteQuery, jurisdiction: Jurisdiction) -> RouteDecision:
    """The endpoints (failover order) that may receive ``query``'s data, or a denial."""
    policy = jurisdiction.policy
    common = {"jurisdiction": jurisdiction.id, "policy_version": policy.version, "query": query}
    rule = policy.rule_for(query.level, query.purpose)
    if query.media and (rule is None or rule.media != "allow"):
        query = query.as_privileged()  # fail closed: what no scanner read is the most sensitive
        rule = policy.rule_for(query.level, query.purpose)
    common["query"] = query
    if rule is None:
        return RouteDecision(
            allowed=False,
            rule_id=RULE_DEFAULT_DENY,
            reason=(
                f"no rule of policy {jurisdiction.id}@{policy.version} allows {query.level} "
                f"data for purpose {query.purpose!r}"
            ),
            **common,
        )
    allowed: list[ModelEndpoint] = []
    excluded: list[str] = []
    for name in rule.destinations:
        endpoint = policy.destination(name)
        why_not = exclusion(endpoint, query, rule, jurisdiction)
        if why_not is None:
            allowed.append(endpoint)
        else:
            excluded.append(why_not)
    if allowed:
        return RouteDecision(
            allowed=True,
            rule_id=rule.id,
            reason=f"{query.level} data for {query.purpose!r} to {allowed[0].ref} "
            f"({allowed[0].tier}); {len(allowed) - 1} failover candidate(s)",
            endpoints=tuple(allowed),
            excluded=tuple(excluded),
            **common,
        )
    return RouteDecision(
        allowed=False,
        rule_id=rule.id,
        reason=f"rule {rule.id} names no destination this data may reach: " + "; ".join(excluded),
        excluded=tuple(excluded),
        **common,
    )
