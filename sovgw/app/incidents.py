"""The incident desk: open an incident, link its evidence, record the actions that stop its
clocks, close it, and find the clocks at risk (the scheduled check alarms on them).

Each change is one new event in the store, numbered after the last one; two operators
writing at once cannot take the same number (the store writes each number once), so the
second one retries with the next."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from sovgw.adapters.aws.incidents import S3IncidentStore
from sovgw.adapters.incident_metrics import publish_incident_clocks
from sovgw.config import Jurisdiction
from sovgw.domain.audit import AuditRecord
from sovgw.domain.incidents import (
    Clock,
    Deadline,
    Evidence,
    EvidenceKind,
    Incident,
    IncidentEvent,
    fold,
    new_incident_id,
)
from sovgw.ports import IncidentEventExists, IncidentStore

WRITE_ATTEMPTS = 3


def _now() -> datetime:
    return datetime.now(UTC)


def evidence_of(records: Iterable[AuditRecord]) -> list[Evidence]:
    """What ``sovgw audit trace`` found, as evidence links: each audit record, the AWS request
    ids that join CloudTrail, and the Salesforce calls of the query log (ids only)."""
    found: dict[tuple[EvidenceKind, str], Evidence] = {}
    for record in records:
        kind = (
            EvidenceKind.QUERY_LOG
            if record.salesforce_call is not None
            else EvidenceKind.AUDIT_RECORD
        )
        note = f"{record.stage.value} {record.outcome.value} at {record.time.isoformat()}"
        found.setdefault(
            (kind, record.record_id), Evidence(kind=kind, ref=record.record_id, note=note)
        )
        for request_id in record.links.aws_request_ids:
            found.setdefault(
                (EvidenceKind.CLOUDTRAIL, request_id),
                Evidence(kind=EvidenceKind.CLOUDTRAIL, ref=request_id, note="requestID"),
            )
    return list(found.values())


@dataclass
class IncidentDesk:
    store: IncidentStore
    jurisdiction: Jurisdiction
    now: Callable[[], datetime] = field(default=_now)

    def open(
        self,
        *,
        title: str,
        aware_at: datetime,
        by: str,
        personal_data: bool,
        org_id: str | None = None,
        data_categories: Sequence[str] = (),
        data_subjects: int | None = None,
        evidence: Sequence[Evidence] = (),
        incident_id: str | None = None,
    ) -> Incident:
        """A new incident; its clocks run from ``aware_at`` (when the controller became
        aware, which may be before it was opened here). Its id is derived from the title and
        the awareness unless given (an alarm that must open one incident however many
        processes raise it at once names it)."""
        incident_id = incident_id or new_incident_id(self.jurisdiction.id, aware_at, title)
        opened = IncidentEvent(
            incident_id=incident_id,
            sequence=0,
            type="opened",
            at=self.now(),
            by=by,
            jurisdiction=self.jurisdiction.id,
            org_id=org_id,
            title=title,
            aware_at=aware_at,
            regimes=self.jurisdiction.incident_regimes,
            personal_data=personal_data,
            data_categories=tuple(data_categories),
            data_subjects=data_subjects,
            evidence=tuple(evidence),
        )
        self.store.write(opened)  # the same title and awareness twice: IncidentEventExists
        return self.incident(incident_id)

    def add_evidence(self, incident_id: str, evidence: Sequence[Evidence], by: str) -> Incident:
        return self._append(incident_id, by, type="evidence", evidence=tuple(evidence))

    def record_action(
        self,
        incident_id: str,
        *,
        by: str,
        clock: Clock | None = None,
        done_at: datetime | None = None,
        ref: str | None = None,
        note: str | None = None,
    ) -> Incident:
        """A step taken: a notification (``clock`` it stops, when it was made, the
        authority's reference) or another step (containment, a call), with a note."""
        return self._append(
            incident_id, by, type="action", clock=clock, done_at=done_at, ref=ref, note=note
        )

    def close(self, incident_id: str, *, by: str, note: str) -> Incident:
        return self._append(incident_id, by, type="closed", note=note)

    def incident(self, incident_id: str) -> Incident:
        events = self.store.events(incident_id)
        if not events:
            raise KeyError(incident_id)
        return fold(events)

    def incidents(self) -> list[Incident]:
        return [self.incident(i) for i in self.store.incident_ids()]

    def at_risk(self) -> list[tuple[Incident, Deadline]]:
        """Each open incident's clocks in their last quarter, or past due, with no action."""
        now = self.now()
        return [(i, d) for i in self.incidents() for d in i.at_risk(now)]

    def _append(self, incident_id: str, by: str, **fields: Any) -> Incident:
        for _ in range(WRITE_ATTEMPTS):
            incident = self.incident(incident_id)
            if incident.closed is not None:
                raise ValueError(f"incident {incident_id} is closed")
            event = IncidentEvent(
                incident_id=incident_id,
                sequence=len(incident.events),
                at=self.now(),
                by=by,
                **fields,
            )
            try:
                self.store.write(event)
            except IncidentEventExists:
                continue  # another operator wrote this number first: take the next
            return self.incident(incident_id)
        raise IncidentEventExists(f"{incident_id}: {WRITE_ATTEMPTS} attempts lost the race")


def incident_desk(jurisdiction: Jurisdiction) -> IncidentDesk:
    """The jurisdiction's desk over its audit bucket (the operator's and the check's)."""
    s3 = boto3.session.Session(region_name=jurisdiction.region).client("s3")
    return IncidentDesk(S3IncidentStore(s3, jurisdiction.audit_bucket), jurisdiction)


def check_incident_clocks(desk: IncidentDesk) -> list[tuple[Incident, Deadline]]:
    """The scheduled check: the clocks at risk or missed, counted into the metric the stack
    alarms on (0 too: the alarm treats missing data as a finding)."""
    risky = desk.at_risk()
    publish_incident_clocks(len(risky), desk.jurisdiction.id)
    return risky
