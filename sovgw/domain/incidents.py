"""Incidents and the legal clocks that start when the controller becomes aware of them.

An incident is an append-only sequence of events (opened, evidence, action, closed) kept in
the jurisdiction's Object Lock audit bucket; its state is their fold. The clocks:

- GDPR Art. 33(1): notify the supervisory authority within 72 hours of becoming aware of a
  personal data breach (when personal data is affected);
- NIS2 Art. 23(4): an early warning within 24 hours of awareness, an incident notification
  within 72 hours, a final report within one month of the incident notification;
- Swiss FADP Art. 24: notify the FDPIC "as soon as possible" — no statutory hours, so the
  clock shown is an internal target of 72 hours, named as such.

A clock is met by an action recorded for it (with its reference, e.g. the authority's case
number) no later than its deadline; it is at risk in the last quarter of its window with no
action, which the scheduled clock check turns into an alarm.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

INCIDENT_ID_PATTERN = r"^INC-[a-z]{2}(-[a-z]{2})?-\d{8}-[0-9a-f]{6}$"


class Regime(StrEnum):
    GDPR = "GDPR"
    NIS2 = "NIS2"
    FADP = "FADP"


class Clock(StrEnum):
    GDPR_ART33 = "gdpr_art33_notification"
    NIS2_EARLY_WARNING = "nis2_early_warning"
    NIS2_NOTIFICATION = "nis2_incident_notification"
    NIS2_FINAL_REPORT = "nis2_final_report"
    FADP_ART24 = "fadp_art24_notification"


CLOCK_TEXT = {
    Clock.GDPR_ART33: "GDPR Art. 33(1): notification to the supervisory authority, 72 h",
    Clock.NIS2_EARLY_WARNING: "NIS2 Art. 23(4)(a): early warning to the CSIRT, 24 h",
    Clock.NIS2_NOTIFICATION: "NIS2 Art. 23(4)(b): incident notification, 72 h",
    Clock.NIS2_FINAL_REPORT: "NIS2 Art. 23(4)(d): final report, one month after notification",
    Clock.FADP_ART24: "FADP Art. 24: notification to the FDPIC as soon as possible "
    "(internal target 72 h)",
}
ONE_MONTH = timedelta(days=30)


class EvidenceKind(StrEnum):
    AUDIT_RECORD = "audit_record"
    CLOUDTRAIL = "cloudtrail"
    QUERY_LOG = "query_log"
    CONTAINMENT = "containment"
    NOTE = "note"


class Evidence(BaseModel):
    """A link to what shows the incident (ids, never values)."""

    model_config = ConfigDict(frozen=True)

    kind: EvidenceKind
    ref: str = Field(min_length=1, max_length=300)
    note: str | None = Field(default=None, max_length=500)


class IncidentEvent(BaseModel):
    """One entry of an incident's history, written once."""

    model_config = ConfigDict(frozen=True)

    incident_id: str = Field(pattern=INCIDENT_ID_PATTERN)
    sequence: int = Field(ge=0)
    type: Literal["opened", "evidence", "action", "closed"]
    at: datetime  # when it was recorded
    by: str = Field(min_length=1, max_length=200)
    # opened
    jurisdiction: str | None = None
    org_id: str | None = None
    title: str | None = Field(default=None, max_length=200)
    aware_at: datetime | None = None
    regimes: tuple[Regime, ...] = ()
    personal_data: bool | None = None
    data_categories: tuple[str, ...] = ()
    data_subjects: int | None = Field(default=None, ge=0)
    # evidence
    evidence: tuple[Evidence, ...] = ()
    # action (for a clock, or a step such as containment) and closed
    clock: Clock | None = None
    done_at: datetime | None = None
    ref: str | None = Field(default=None, max_length=300)
    note: str | None = Field(default=None, max_length=1000)


@dataclass(frozen=True)
class Deadline:
    clock: Clock
    due: datetime
    window: timedelta
    met_at: datetime | None
    ref: str | None

    def status(self, now: datetime) -> Literal["met", "late", "missed", "at_risk", "open"]:
        if self.met_at is not None:
            return "met" if self.met_at <= self.due else "late"
        if now > self.due:
            return "missed"
        return "at_risk" if self.due - now <= self.window / 4 else "open"


@dataclass(frozen=True)
class Incident:
    """The fold of an incident's events."""

    events: tuple[IncidentEvent, ...]

    @property
    def opened(self) -> IncidentEvent:
        return self.events[0]

    @property
    def id(self) -> str:
        return self.opened.incident_id

    @property
    def aware_at(self) -> datetime:
        assert self.opened.aware_at is not None
        return self.opened.aware_at

    @property
    def closed(self) -> IncidentEvent | None:
        return next((e for e in self.events if e.type == "closed"), None)

    @property
    def evidence(self) -> list[Evidence]:
        return [item for e in self.events for item in e.evidence]

    @property
    def actions(self) -> list[IncidentEvent]:
        return [e for e in self.events if e.type == "action"]

    def _done(self, clock: Clock) -> IncidentEvent | None:
        done = [a for a in self.actions if a.clock is clock]
        return min(done, key=lambda a: a.done_at or a.at) if done else None

    def deadlines(self) -> list[Deadline]:
        """Every clock that runs for this incident, with its deadline and what met it."""
        hours = timedelta(hours=1)
        windows: list[tuple[Clock, datetime, timedelta]] = []
        regimes = set(self.opened.regimes)
        aware = self.aware_at
        if Regime.GDPR in regimes and self.opened.personal_data:
            windows.append((Clock.GDPR_ART33, aware, 72 * hours))
        if Regime.NIS2 in regimes:
            windows.append((Clock.NIS2_EARLY_WARNING, aware, 24 * hours))
            windows.append((Clock.NIS2_NOTIFICATION, aware, 72 * hours))
            notified = self._done(Clock.NIS2_NOTIFICATION)
            start = (notified.done_at or notified.at) if notified else aware + 72 * hours
            windows.append((Clock.NIS2_FINAL_REPORT, start, ONE_MONTH))
        if Regime.FADP in regimes and self.opened.personal_data:
            windows.append((Clock.FADP_ART24, aware, 72 * hours))
        deadlines = []
        for clock, start, window in windows:
            done = self._done(clock)
            deadlines.append(
                Deadline(
                    clock,
                    start + window,
                    window,
                    (done.done_at or done.at) if done else None,
                    done.ref if done else None,
                )
            )
        return deadlines

    def at_risk(self, now: datetime) -> list[Deadline]:
        """Clocks at risk or missed with no action (the alarm's findings); none once closed."""
        if self.closed is not None:
            return []
        return [d for d in self.deadlines() if d.status(now) in {"at_risk", "missed"}]


def fold(events: list[IncidentEvent]) -> Incident:
    """The incident from its events in sequence order; refuses a history without its opening
    or with a gap (an event missing is a finding, not something to paper over)."""
    ordered = sorted(events, key=lambda e: e.sequence)
    if not ordered or ordered[0].type != "opened":
        raise ValueError("an incident's history starts with its opening")
    for expected, event in enumerate(ordered):
        if event.sequence != expected:
            raise ValueError(f"incident history has a gap before event {event.sequence}")
        if event.incident_id != ordered[0].incident_id:
            raise ValueError("events of two incidents mixed")
    return Incident(tuple(ordered))


def new_incident_id(jurisdiction: str, aware_at: datetime, title: str) -> str:
    """``INC-<jurisdiction>-<yyyymmdd>-<6 hex>``: readable, and unique per title and time."""
    digest = hashlib.sha256(f"{jurisdiction}|{aware_at.isoformat()}|{title}".encode())
    return f"INC-{jurisdiction}-{aware_at.astimezone(UTC):%Y%m%d}-{digest.hexdigest()[:6]}"


def valid_incident_id(value: str) -> bool:
    return re.fullmatch(INCIDENT_ID_PATTERN, value) is not None
