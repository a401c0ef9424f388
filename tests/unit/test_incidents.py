"""Incidents: which legal clocks run, when each is due and when it is at risk, what stops it,
and the history that cannot lose or reorder an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from sovgw.app.incidents import IncidentDesk, evidence_of
from sovgw.domain.audit import AuditLinks, AuditRecord, Outcome, Stage
from sovgw.domain.incidents import (
    Clock,
    Evidence,
    EvidenceKind,
    IncidentEvent,
    Regime,
    fold,
    valid_incident_id,
)
from sovgw.ports import IncidentEventExists
from sovgw.reports.incident import render
from tests.factories import make_jurisdiction
from tests.fakes import MemoryIncidents

AWARE = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _desk(
    regimes: tuple[Regime, ...] = (Regime.GDPR, Regime.NIS2),
) -> tuple[IncidentDesk, list[datetime]]:
    now = [AWARE + HOUR]
    jurisdiction = make_jurisdiction().model_copy(update={"incident_regimes": regimes})
    return IncidentDesk(MemoryIncidents(), jurisdiction, now=lambda: now[0]), now


def _open(desk: IncidentDesk, personal_data: bool = True) -> str:
    return desk.open(
        title="Contacts read at 03:00 by the integration user",
        aware_at=AWARE,
        by="dpo@example.test",
        personal_data=personal_data,
        data_categories=("EMAIL", "PHONE"),
        data_subjects=1200,
    ).id


def test_eu_clocks_run_from_awareness_and_the_final_report_from_the_notification() -> None:
    desk, _ = _desk()
    incident_id = _open(desk)
    assert valid_incident_id(incident_id) and incident_id.startswith("INC-eu-de-20261130-")
    due = {d.clock: d.due for d in desk.incident(incident_id).deadlines()}
    assert due == {
        Clock.GDPR_ART33: AWARE + 72 * HOUR,
        Clock.NIS2_EARLY_WARNING: AWARE + 24 * HOUR,
        Clock.NIS2_NOTIFICATION: AWARE + 72 * HOUR,
        Clock.NIS2_FINAL_REPORT: AWARE + 72 * HOUR + timedelta(days=30),
    }
    notified = AWARE + 40 * HOUR
    desk.record_action(incident_id, by="ciso", clock=Clock.NIS2_NOTIFICATION, done_at=notified)
    final = next(
        d for d in desk.incident(incident_id).deadlines() if d.clock is Clock.NIS2_FINAL_REPORT
    )
    assert final.due == notified + timedelta(days=30)


def test_no_personal_data_no_gdpr_clock_and_switzerland_runs_its_own() -> None:
    desk, _ = _desk()
    clocks = {d.clock for d in desk.incident(_open(desk, personal_data=False)).deadlines()}
    assert Clock.GDPR_ART33 not in clocks and Clock.NIS2_EARLY_WARNING in clocks
    swiss, _ = _desk((Regime.FADP,))
    assert {d.clock for d in swiss.incident(_open(swiss)).deadlines()} == {Clock.FADP_ART24}


def test_a_clock_is_at_risk_in_its_last_quarter_missed_after_and_met_by_its_action() -> None:
    desk, now = _desk()
    incident_id = _open(desk)
    now[0] = AWARE + 17 * HOUR  # 7 h left of 24: not yet the last quarter (6 h)
    assert desk.at_risk() == []
    now[0] = AWARE + 19 * HOUR
    assert [(i.id, d.clock) for i, d in desk.at_risk()] == [(incident_id, Clock.NIS2_EARLY_WARNING)]
    now[0] = AWARE + 25 * HOUR
    [(_, missed)] = desk.at_risk()
    assert missed.status(now[0]) == "missed"
    desk.record_action(incident_id, by="ciso", clock=Clock.NIS2_EARLY_WARNING, ref="CSIRT-77")
    early = next(
        d for d in desk.incident(incident_id).deadlines() if d.clock is Clock.NIS2_EARLY_WARNING
    )
    assert early.status(now[0]) == "late" and early.ref == "CSIRT-77"
    now[0] = AWARE + 60 * HOUR
    assert {d.clock for _, d in desk.at_risk()} == {Clock.GDPR_ART33, Clock.NIS2_NOTIFICATION}
    desk.close(incident_id, by="dpo", note="notified; no further action")
    assert desk.at_risk() == [], "a closed incident alarms no more"
    with pytest.raises(ValueError, match="closed"):
        desk.record_action(incident_id, by="dpo", note="too late")


def test_two_operators_writing_at_once_both_land_in_order() -> None:
    desk, _ = _desk()
    incident_id = _open(desk)
    assert isinstance(desk.store, MemoryIncidents)
    desk.store.lose_race.add(1)  # someone else takes event 1 first
    incident = desk.record_action(incident_id, by="me", note="called the CSIRT")
    assert [e.by for e in incident.events] == ["dpo@example.test", "someone else", "me"]
    with pytest.raises(IncidentEventExists):
        _open(desk)  # the same incident (title and awareness) cannot be opened twice


def test_a_history_with_a_gap_or_without_its_opening_is_refused() -> None:
    desk, _ = _desk()
    incident_id = _open(desk)
    desk.record_action(incident_id, by="a", note="one")
    desk.record_action(incident_id, by="b", note="two")
    events = desk.incident(incident_id).events
    with pytest.raises(ValueError, match="gap"):
        fold([events[0], events[2]])
    with pytest.raises(ValueError, match="opening"):
        fold(list(events[1:]))


def test_trace_results_become_evidence_links_never_values() -> None:
    records = [
        AuditRecord(
            record_id="r-1", stage=Stage.ROUTING, jurisdiction="eu-de", outcome=Outcome.OK,
            links=AuditLinks(aws_request_ids=("req-9",)),
        ),
        AuditRecord(record_id="r-2", stage=Stage.MODEL_INVOCATION, jurisdiction="eu-de", outcome=Outcome.OK),
    ]  # fmt: skip
    evidence = evidence_of(records)
    assert {(e.kind, e.ref) for e in evidence} == {
        (EvidenceKind.AUDIT_RECORD, "r-1"),
        (EvidenceKind.AUDIT_RECORD, "r-2"),
        (EvidenceKind.CLOUDTRAIL, "req-9"),
    }


def test_the_report_shows_each_clock_its_status_and_how_to_see_the_evidence() -> None:
    desk, now = _desk()
    incident_id = _open(desk)
    desk.add_evidence(incident_id, [Evidence(kind=EvidenceKind.AUDIT_RECORD, ref="r-1")], "dpo")
    desk.record_action(
        incident_id, by="dpo", clock=Clock.GDPR_ART33, done_at=AWARE + 30 * HOUR, ref="CNIL-1"
    )
    now[0] = AWARE + 20 * HOUR
    incident = desk.incident(incident_id)
    text = render(incident, "md", now[0])
    assert (
        "| GDPR Art. 33(1): notification to the supervisory authority, 72 h | 2026-12-03T09:00+00:00 | MET |"
        in text
    )
    assert (
        "NIS2 Art. 23(4)(a): early warning to the CSIRT, 24 h | 2026-12-01T09:00+00:00 | AT RISK"
        in text
    )
    assert "sovgw audit trace r-1 --jurisdiction eu-de" in text
    page = render(incident, "html", now[0])
    assert page.startswith("<!doctype html>") and "1 clock(s) at risk or missed" in page
    with pytest.raises(ValueError, match="unknown format"):
        render(incident, "pdf", now[0])


def test_events_carry_no_more_than_the_schema_allows() -> None:
    with pytest.raises(ValidationError, match="incident_id"):
        IncidentEvent(incident_id="INC-bad", sequence=0, type="opened", at=AWARE, by="x")
