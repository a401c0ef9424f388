"""Leak canaries at the edges: planting them (a Salesforce record, the values sealed in
Secrets Manager), loading the watch of a jurisdiction's orgs, and turning a sighting into an
incident at once (one per org, path and day; later sightings add evidence to it)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3

from sovgw.adapters.aws.canaries import load_canaries, store_canaries
from sovgw.adapters.salesforce.canaries import create_canary_case
from sovgw.app.incidents import IncidentDesk, incident_desk
from sovgw.config import GatewayConfig, Jurisdiction, OrgBinding
from sovgw.domain.canaries import CanarySet, CanaryWatch, Sighting, new_canaries
from sovgw.domain.incidents import Evidence, EvidenceKind, new_incident_id
from sovgw.ports import IncidentEventExists

CANARY_TTL_S = 300.0


def _values(planted: CanarySet) -> dict[str, str]:
    return {c.kind: c.value for c in planted.canaries}


def plant_canaries(
    jurisdiction: Jurisdiction,
    binding: OrgBinding,
    instance_url: str,
    admin_token: str,
    ca_bundle: str | None = None,
) -> CanarySet:
    """A case no purpose reads, holding the new values, created with an administrator's own
    session (the gateway's users cannot create cases); then the values, sealed."""
    planted = new_canaries(binding.org_id, datetime.now(UTC))
    record_id = create_canary_case(instance_url, admin_token, _values(planted), ca_bundle)
    planted = planted.model_copy(update={"record_id": record_id})
    secrets = boto3.session.Session(region_name=jurisdiction.region).client("secretsmanager")
    store_canaries(secrets, jurisdiction, planted)
    return planted


class CanaryFeed:
    """The current watch of some jurisdictions' orgs, read again after ``ttl_s``: a new
    planting reaches running functions and proxies within that time, without a read of the
    secrets per request."""

    def __init__(
        self,
        config: GatewayConfig,
        jurisdictions: list[Jurisdiction],
        ttl_s: float = CANARY_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._jurisdictions = jurisdictions
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._watch = CanaryWatch()
        self._read_at: float | None = None
        self._clients: dict[str, Any] = {}  # one Secrets Manager client per region, made once

    def __call__(self) -> CanaryWatch:
        with self._lock:
            now = self._clock()
            if self._due(now):
                self._watch = CanaryWatch(self._load())
                self._read_at = now
            return self._watch

    def fresh(self) -> CanaryWatch | None:
        """The watch without blocking, while it is fresh; None when a read is due."""
        return None if self._due(self._clock()) else self._watch

    def _due(self, now: float) -> bool:
        return self._read_at is None or now - self._read_at >= self._ttl_s

    def _load(self) -> tuple[CanarySet, ...]:
        sets: list[CanarySet] = []
        for jurisdiction in self._jurisdictions:
            if jurisdiction.region not in self._clients:
                self._clients[jurisdiction.region] = boto3.session.Session(
                    region_name=jurisdiction.region
                ).client("secretsmanager")
            secrets = self._clients[jurisdiction.region]
            orgs = [o.org_id for o in self._config.orgs_of(jurisdiction.id)]
            sets += load_canaries(secrets, jurisdiction, orgs)
        return tuple(sets)


def canary_alarm(
    config: GatewayConfig,
    jurisdictions: list[Jurisdiction],
    desk_of: Callable[[Jurisdiction], IncidentDesk] = incident_desk,
) -> Callable[[Sighting, str], None]:
    """What a sighting does: an incident in the org's jurisdiction (one of ``jurisdictions``),
    at once; one per org, path and day, however many processes see it at the same time (its
    id is derived from them: the first writer opens it, the others add their evidence). Each
    jurisdiction's desk is made at its first sighting, not at start."""
    served = {j.id: j for j in jurisdictions}
    desk_for = functools.cache(lambda jurisdiction_id: desk_of(served[jurisdiction_id]))

    def raise_alarm(sighting: Sighting, evidence_record: str) -> None:
        binding = config.org(sighting.org_id)
        if binding is None or binding.jurisdiction not in served:
            return
        desk: IncidentDesk = desk_for(binding.jurisdiction)
        now = desk.now()
        title = f"Leak canary of org {sighting.org_id} seen: {sighting.where}"
        evidence = [
            Evidence(
                kind=EvidenceKind.AUDIT_RECORD, ref=evidence_record, note=sighting.canary.kind
            ),
            Evidence(
                kind=EvidenceKind.CONTAINMENT, ref=f"blocked-{evidence_record}", note="blocked"
            ),
        ]
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        todays = new_incident_id(binding.jurisdiction, day, title)
        open_incident = functools.partial(
            desk.open,
            title=title,
            aware_at=now,
            by="sovgw:canary-watch",
            personal_data=True,  # the canary sits among records that hold personal data
            org_id=sighting.org_id,
            evidence=evidence,
        )
        try:
            open_incident(incident_id=todays)
        except IncidentEventExists:
            try:
                desk.add_evidence(todays, evidence, by="sovgw:canary-watch")
            except ValueError:  # today's was closed already: a new one
                open_incident()

    return raise_alarm
