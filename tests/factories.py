"""Builders for configuration objects that tests need in many shapes."""

from __future__ import annotations

from typing import Literal

from sovgw.config import Jurisdiction, ModelEndpoint
from sovgw.domain.levels import DataLevel
from sovgw.policy import PolicyRule, RoutingPolicy


def make_jurisdiction(
    *endpoints: ModelEndpoint,
    jurisdiction_id: str = "eu-de",
    region: str = "eu-central-1",
    levels: tuple[DataLevel, ...] = tuple(DataLevel),
    purposes: tuple[str, ...] = ("*",),
    external_sensitive: Literal["pseudonymise", "refuse"] = "refuse",
    media: Literal["privileged", "allow"] = "privileged",
) -> Jurisdiction:
    """A jurisdiction whose policy has one rule naming every endpoint (none: no rule)."""
    rules = (
        (
            PolicyRule(
                id="test.rule",
                levels=levels,
                purposes=purposes,
                destinations=tuple(e.name for e in endpoints),
                external_sensitive=external_sensitive,
                media=media,
            ),
        )
        if endpoints
        else ()
    )
    return Jurisdiction(
        id=jurisdiction_id,
        region=region,
        allowed_regions=(region,),
        policy=RoutingPolicy(
            version="test-1", jurisdiction=jurisdiction_id, destinations=endpoints, rules=rules
        ),
    )
