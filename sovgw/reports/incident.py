"""An incident for the DPO: summary, the legal clocks with their status, the timeline and the
evidence (each with the command that shows it), as Markdown or HTML from the same tables."""

from __future__ import annotations

from datetime import datetime

from sovgw.domain.incidents import CLOCK_TEXT, EvidenceKind, Incident, IncidentEvent
from sovgw.reports.tables import Section, html_document, html_table, markdown

FORMATS = ("md", "html")
TRACEABLE = {EvidenceKind.AUDIT_RECORD, EvidenceKind.QUERY_LOG, EvidenceKind.CLOUDTRAIL}


def title(incident: Incident) -> str:
    return f"Incident {incident.id}: {incident.opened.title}"


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value else "-"


def _details(event: IncidentEvent) -> str:
    if event.type == "opened":
        return f"opened; aware since {_when(event.aware_at)}"
    if event.type == "evidence":
        return f"{len(event.evidence)} evidence link(s) added"
    if event.type == "closed":
        return f"closed: {event.note or ''}"
    done = f" at {_when(event.done_at)}" if event.done_at else ""
    what = event.clock.value if event.clock else "action"
    ref = f", reference {event.ref}" if event.ref else ""
    note = f": {event.note}" if event.note else ""
    return f"{what}{done}{ref}{note}"


def sections(incident: Incident, now: datetime) -> list[Section]:
    opened = incident.opened
    summary = (
        ("Jurisdiction", opened.jurisdiction or "-"),
        ("Org", opened.org_id or "-"),
        ("Aware since (clocks start)", _when(opened.aware_at)),
        ("Opened", f"{_when(opened.at)} by {opened.by}"),
        ("State", "closed" if incident.closed else "open"),
        ("Reporting regimes", ", ".join(r.value for r in opened.regimes) or "-"),
        ("Personal data affected", "yes" if opened.personal_data else "no"),
        ("Data categories", ", ".join(opened.data_categories) or "-"),
        (
            "Data subjects affected",
            str(opened.data_subjects) if opened.data_subjects is not None else "not yet known",
        ),
    )
    deadlines = tuple(
        (
            CLOCK_TEXT[d.clock],
            _when(d.due),
            d.status(now).upper().replace("_", " "),
            _when(d.met_at),
            d.ref or "-",
        )
        for d in incident.deadlines()
    )
    timeline = tuple(
        (_when(e.at), e.type, e.by, _details(e))
        for e in sorted(incident.events, key=lambda e: e.at)
    )
    jurisdiction = opened.jurisdiction or "-"
    evidence = tuple(
        (
            e.kind.value,
            e.ref,
            e.note or "-",
            f"sovgw audit trace {e.ref} --jurisdiction {jurisdiction}"
            if e.kind in TRACEABLE
            else "-",
        )
        for e in incident.evidence
    )
    return [
        Section("Summary", ("Item", "Value"), summary),
        Section(
            "Deadlines",
            ("Obligation", "Due", f"Status at {_when(now)}", "Done at", "Reference"),
            deadlines,
            "A clock is met by an action recorded for it (sovgw incident action --clock ...).",
        ),
        Section("Timeline", ("Recorded", "Event", "By", "Details"), timeline),
        Section("Evidence", ("Kind", "Reference", "Note", "Shown by"), evidence),
    ]


def render(incident: Incident, fmt: str, now: datetime) -> str:
    if fmt == "md":
        return markdown(title(incident), sections(incident, now))
    if fmt == "html":
        at_risk = incident.at_risk(now)
        status = (
            f'<div class="status gaps">{len(at_risk)} clock(s) at risk or missed.</div>'
            if at_risk
            else '<div class="status ok">No clock at risk.</div>'
        )
        body = [status, *(html_table(s) for s in sections(incident, now))]
        return html_document(title(incident), body)
    raise ValueError(f"unknown format {fmt!r}: {', '.join(FORMATS)}")


def summary_line(incident: Incident, now: datetime) -> str:
    """One line per incident for ``sovgw incident list``."""
    risky = incident.at_risk(now)
    state = "closed" if incident.closed else ("AT RISK" if risky else "open")
    nearest = min((d.due for d in risky), default=None)
    due = f" next due {_when(nearest)}" if nearest else ""
    aware = _when(incident.aware_at)
    return f"{incident.id} {state:<8} aware {aware} {incident.opened.title or ''}{due}"
