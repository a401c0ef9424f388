"""Deployment configuration: jurisdictions, their model endpoints and the orgs bound to them.

One jurisdiction is one Pulumi stack in production; the local stack hosts several side by side.
Everything here is validated at load time so a typo fails the deployment, not a request.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from sovgw.domain.incidents import Regime
from sovgw.policy import (
    AWS_REGION_PATTERN,
    Frozen,
    ModelEndpoint,
    RoutingPolicy,
    TrustTier,
    read_yaml,
)

SALESFORCE_ORG_ID_PATTERN = r"^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$"
__all__ = ["Contact", "GatewayConfig", "Jurisdiction", "ModelEndpoint", "OrgBinding", "TrustTier"]


class Jurisdiction(Frozen):
    """A legal area whose data stays in ``allowed_regions`` and whose stack runs in ``region``."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")
    region: str = Field(pattern=AWS_REGION_PATTERN)
    allowed_regions: tuple[str, ...] = Field(min_length=1)
    policy: RoutingPolicy
    # The AWS account of the jurisdiction's stack, where Salesforce Event Relay delivers
    # (``sovgw salesforce relay metadata``); optional until the relay is set up.
    aws_account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    # The incident-reporting laws whose clocks run here (``sovgw incident``). By default both
    # EU regimes: a jurisdiction says otherwise explicitly (Switzerland: FADP).
    incident_regimes: tuple[Regime, ...] = (Regime.GDPR, Regime.NIS2)

    @field_validator("allowed_regions")
    @classmethod
    def _regions_are_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            if not re.match(AWS_REGION_PATTERN, region):
                raise ValueError(f"not an AWS region: {region!r}")
        return value

    @model_validator(mode="after")
    def _home_region_allowed(self) -> Jurisdiction:
        if self.region not in self.allowed_regions:
            raise ValueError(
                f"jurisdiction {self.id}: home region {self.region} is not in allowed_regions"
            )
        if self.policy.jurisdiction != self.id:
            raise ValueError(
                f"jurisdiction {self.id} has the policy of {self.policy.jurisdiction!r}"
            )
        return self

    @property
    def endpoints(self) -> tuple[ModelEndpoint, ...]:
        """Every destination its policy names (routing still excludes any outside the region)."""
        return self.policy.destinations

    @property
    def event_bus(self) -> str:
        return f"sovgw-{self.id}"

    @property
    def audit_bucket(self) -> str:
        return f"sovgw-audit-{self.id}"

    @property
    def models_bucket(self) -> str:
        return f"sovgw-models-{self.id}"

    @property
    def datasets_bucket(self) -> str:
        """Training datasets: raw exports, curated and quarantined records, manifests."""
        return f"sovgw-datasets-{self.id}"

    @property
    def kms_alias(self) -> str:
        return f"alias/sovgw-{self.id}"

    @property
    def digest_signing_key_alias(self) -> str:
        return f"alias/sovgw-{self.id}-audit-digest"


class Contact(Frozen):
    """Who answers for the processing (GDPR Art. 30(1)(a)): a name and how to reach them."""

    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: str | None = None
    phone: str | None = None


class OrgBinding(Frozen):
    """A Salesforce org, the jurisdiction its data belongs to and where its credentials live;
    its controller and data protection officer, for the record of processing."""

    org_id: str = Field(pattern=SALESFORCE_ORG_ID_PATTERN)
    name: str
    jurisdiction: str
    relay_channel_id: str = Field(pattern=r"^0YL[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")
    controller: Contact | None = None
    dpo: Contact | None = None

    @property
    def credentials_secret(self) -> str:
        return f"sovgw/{self.jurisdiction}/salesforce/{self.org_id}"

    @property
    def credential_pool_secrets(self) -> tuple[tuple[str, bool], ...]:
        """(secret name, emergency?) of the org's pool: two integration credentials that
        alternate (and rotate in turn) and one used only by the EMERGENCY lane."""
        base = self.credentials_secret
        return ((base, False), (f"{base}/b", False), (f"{base}/emergency", True))

    @property
    def relay_monitor_secret(self) -> str:
        """The credential that reads the relay's set-up and feedback (View Setup), kept apart
        from the integration credentials, which must not see set-up."""
        return f"{self.credentials_secret}/relay-monitor"

    @property
    def event_source(self) -> str:
        """The partner event source Salesforce Event Relay publishes this org's events from."""
        return f"aws.partner/salesforce.com/{self.org_id}/{self.relay_channel_id}"


class GatewayConfig(Frozen):
    """All jurisdictions and org bindings a deployment knows; anything else is denied."""

    jurisdictions: tuple[Jurisdiction, ...] = Field(min_length=1)
    orgs: tuple[OrgBinding, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> GatewayConfig:
        ids = [j.id for j in self.jurisdictions]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate jurisdiction ids: {ids}")
        org_ids = [o.org_id[:15] for o in self.orgs]
        if len(org_ids) != len(set(org_ids)):
            raise ValueError("an org is bound more than once")
        for org in self.orgs:
            if org.jurisdiction not in ids:
                raise ValueError(f"org {org.org_id} names unknown jurisdiction {org.jurisdiction}")
        return self

    def jurisdiction(self, jurisdiction_id: str) -> Jurisdiction | None:
        # A scan, not a cache: model_copy(update=...) would carry a cached index along stale.
        return next((j for j in self.jurisdictions if j.id == jurisdiction_id), None)

    def org(self, org_id: str) -> OrgBinding | None:
        """Find an org by its 15- or 18-character id (Salesforce accepts both)."""
        return next((o for o in self.orgs if o.org_id[:15] == org_id[:15]), None)

    def orgs_of(self, jurisdiction_id: str) -> tuple[OrgBinding, ...]:
        return tuple(o for o in self.orgs if o.jurisdiction == jurisdiction_id)


def load_config(path: Path) -> GatewayConfig:
    """Load and validate a gateway configuration file (YAML); a jurisdiction's ``policy`` may
    be the path of its policy file, relative to the configuration file."""
    raw = read_yaml(path)
    for jurisdiction in raw.get("jurisdictions") or () if isinstance(raw, dict) else ():
        if isinstance(jurisdiction, dict) and isinstance(jurisdiction.get("policy"), str):
            jurisdiction["policy"] = read_yaml(path.parent / jurisdiction["policy"])
    return GatewayConfig.model_validate(raw)
