"""Routing policy as data: one versioned YAML file per jurisdiction.

A policy names its destinations (model endpoints with a region and a trust tier) and maps
data levels and purposes to the destinations allowed for them, first matching rule wins.
The rules can only narrow what the residency invariants in ``sovgw.domain.routing`` allow;
they can never widen it (a destination abroad is excluded whatever a rule says).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sovgw.domain.levels import DataLevel

AWS_REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
ANY_PURPOSE = "*"
_SAGEMAKER_UPSTREAM = re.compile(r"^sagemaker:([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})@([a-z0-9-]+)$")
_OPENAI_UPSTREAM = re.compile(r"^openai:(https://[^\s]+?)/?$")


class TrustTier(StrEnum):
    """Who operates an endpoint: ``sovereign`` is ours in-region, ``external`` is anyone else."""

    SOVEREIGN = "sovereign"
    EXTERNAL = "external"


class Frozen(BaseModel):
    """Configuration objects: immutable, and a misspelt key is an error, not a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelEndpoint(Frozen):
    """A model endpoint the gateway may call: a SageMaker endpoint in a region, or an
    OpenAI-compatible API at ``base_url`` whose data centre region is declared.

    In YAML it may be written as ``upstream: sagemaker:<endpoint>@<region>`` or
    ``upstream: openai:<base_url>`` (the latter with ``name`` and ``region``).
    """

    name: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    region: str = Field(pattern=AWS_REGION_PATTERN)
    tier: TrustTier
    base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")

    @model_validator(mode="before")
    @classmethod
    def _parse_upstream(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "upstream" not in data:
            return data
        fields = {k: v for k, v in data.items() if k != "upstream"}
        upstream = str(data["upstream"])
        if match := _SAGEMAKER_UPSTREAM.match(upstream):
            name, region = match.groups()
            for key, parsed in (("name", name), ("region", region)):
                if fields.setdefault(key, parsed) != parsed:
                    raise ValueError(f"upstream {upstream!r} contradicts {key}={fields[key]!r}")
            return fields
        if match := _OPENAI_UPSTREAM.match(upstream):
            if "name" not in fields or "region" not in fields:
                raise ValueError(f"upstream {upstream!r} needs a name and the region it runs in")
            return fields | {"base_url": match.group(1)}
        raise ValueError(
            f"upstream {upstream!r} is neither sagemaker:<endpoint>@<region> "
            "nor openai:https://<base_url>"
        )

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.region}"

    @property
    def upstream(self) -> str:
        return f"openai:{self.base_url}" if self.base_url else f"sagemaker:{self.ref}"


class PolicyRule(Frozen):
    """Data of ``levels`` for ``purposes`` may go to ``destinations`` (in failover order)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,62}$")
    levels: tuple[DataLevel, ...] = Field(min_length=1)
    purposes: tuple[str, ...] = (ANY_PURPOSE,)
    destinations: tuple[str, ...] = Field(min_length=1)
    # What an external destination gets when the request holds personal data or secrets:
    # placeholders instead of the values, or nothing (the destination is not used).
    external_sensitive: Literal["pseudonymise", "refuse"] = "refuse"
    # Content parts DLP cannot read (an image, audio, a file): by default they make the
    # request PRIVILEGED (whatever they hold); "allow" lets them go where this rule sends the
    # request's text (say, a vendor with a processing agreement for document images).
    media: Literal["privileged", "allow"] = "privileged"

    def matches(self, level: DataLevel, purpose: str) -> bool:
        return level in self.levels and (ANY_PURPOSE in self.purposes or purpose in self.purposes)


class BreakGlassSettings(Frozen):
    """How long emergency access may last in this jurisdiction, and how long a request waits."""

    max_duration_minutes: int = Field(default=60, gt=0, le=1440)
    approval_timeout_minutes: int = Field(default=15, gt=0, le=1440)


class RoutingPolicy(Frozen):
    """The routing policy of one jurisdiction (and its break-glass limits)."""

    version: str = Field(min_length=1, max_length=40)
    jurisdiction: str
    destinations: tuple[ModelEndpoint, ...] = ()
    rules: tuple[PolicyRule, ...] = ()
    break_glass: BreakGlassSettings = BreakGlassSettings()

    @model_validator(mode="after")
    def _references_resolve(self) -> RoutingPolicy:
        names = [d.name for d in self.destinations]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate destination names: {names}")
        rule_ids = [r.id for r in self.rules]
        if len(rule_ids) != len(set(rule_ids)):
            raise ValueError(f"duplicate rule ids: {rule_ids}")
        for rule in self.rules:
            unknown = sorted(set(rule.destinations) - set(names))
            if unknown:
                raise ValueError(f"rule {rule.id} names unknown destinations {unknown}")
        return self

    def destination(self, name: str) -> ModelEndpoint:
        return next(d for d in self.destinations if d.name == name)

    def rule_for(self, level: DataLevel, purpose: str) -> PolicyRule | None:
        return next((r for r in self.rules if r.matches(level, purpose)), None)

    @property
    def purposes(self) -> tuple[str, ...]:
        """Purposes named by any rule (``*`` included), for decision tables."""
        return tuple(dict.fromkeys(p for r in self.rules for p in r.purposes))


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; PyYAML is imported here, at load, not on every handler cold start."""
    import yaml  # noqa: PLC0415

    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_policy(path: Path) -> RoutingPolicy:
    """Load and validate one jurisdiction's policy file."""
    return RoutingPolicy.model_validate(read_yaml(path))
