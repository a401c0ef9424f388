"""The Art. 30 record as Markdown, CSV or HTML (with charts; printed to PDF by headless
Chromium, ``sovgw.adapters.chromium``). Every table is built once (``_sections``), so the
formats cannot say different things."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from sovgw.config import Contact
from sovgw.domain.art30 import Art30Report
from sovgw.reports.svg import bars, stacked_columns
from sovgw.reports.tables import Section, csv_text, html_document, html_table, markdown

FORMATS = ("md", "csv", "html", "pdf")


def trace_command(report: Art30Report, record_id: str | None) -> str:
    """The command that shows the evidence behind a row."""
    if record_id is None:
        return "-"
    return f"sovgw audit trace {record_id} --jurisdiction {report.jurisdiction}"


def _contact(contact: Contact | None) -> str:
    if contact is None:
        return "MISSING"
    extra = [p for p in (contact.address, contact.phone) if p]
    return ", ".join([contact.name, contact.email, *extra])


def _counts(values: Mapping[str, int]) -> str:
    return "; ".join(f"{k} ({v})" for k, v in sorted(values.items())) or "none"


def _period(report: Art30Report) -> str:
    since = report.since.isoformat() if report.since else "the first record"
    until = report.until.isoformat() if report.until else report.generated.isoformat()
    return f"{since} to {until}"


def title(report: Art30Report) -> str:
    scope = f"org {report.org}" if report.org else "all orgs"
    return (
        f"Record of processing activities (GDPR Art. 30(1)): "
        f"jurisdiction {report.jurisdiction}, {scope}"
    )


def _sections(report: Art30Report) -> list[Section]:
    def trace(record_id: str | None) -> str:
        return trace_command(report, record_id)

    transfers = (
        tuple((t.stage, t.region, trace(t.record_id)) for t in report.transfers)
        if report.transfers
        else (("none", "-", f"all processing stayed in {report.jurisdiction}'s allowed regions"),)
    )
    return [
        Section(
            "Scope",
            ("item", "value"),
            (
                ("Jurisdiction", report.jurisdiction),
                ("Orgs", report.org or "all orgs bound to the jurisdiction"),
                ("Period", _period(report)),
                ("Routing policy", report.policy_version),
                ("Audit records considered", str(report.records_considered)),
                ("Generated", report.generated.isoformat()),
                ("Status", "complete" if report.fileable else f"{len(report.gaps)} gap(s)"),
            ),
        ),
        Section("Gaps", ("gap",), tuple((g,) for g in report.gaps) or (("none",),)),
        Section(
            "Controller and data protection officer (Art. 30(1)(a))",
            ("org", "controller", "data protection officer"),
            tuple((c.org, _contact(c.controller), _contact(c.dpo)) for c in report.controllers),
        ),
        Section(
            "Processing activities: purposes, data subjects, personal data (Art. 30(1)(b)-(c))",
            (
                "purpose",
                "description",
                "requests",
                "categories of data subjects",
                "fields read (allow-list)",
                "categories of personal data (findings)",
                "data levels",
                "recipients",
                "denied",
                "evidence",
            ),
            tuple(
                (
                    a.purpose,
                    a.description,
                    str(a.requests),
                    "; ".join(a.data_subjects) or "none",
                    "; ".join(f"{o}: {', '.join(f)}" for o, f in a.fields.items()) or "none",
                    _counts(a.personal_data),
                    _counts(a.levels),
                    _counts(a.recipients),
                    str(a.denied),
                    trace(a.evidence),
                )
                for a in report.activities
            ),
        ),
        Section(
            "Recipients (Art. 30(1)(d))",
            ("recipient", "invocations"),
            tuple((name, str(n)) for name, n in sorted(report.recipients.items()))
            or (("none", "0"),),
            "Model endpoints of the routing policy; the gateway keeps no copy of prompts or "
            "answers beyond the records' hashes.",
        ),
        Section(
            "Transfers to third countries and safeguards (Art. 30(1)(e))",
            ("transfer", "region", "evidence"),
            transfers,
            " ".join(report.safeguards),
        ),
        Section(
            "Time limits for erasure (Art. 30(1)(f))",
            ("store", "what it holds", "time limit", "how it is erased"),
            tuple((e.store, e.holds, e.limit, e.erasure) for e in report.erasure),
        ),
        Section(
            "Technical and organisational measures (Art. 30(1)(g), Art. 32)",
            ("area", "measure", "evidence", "source", "status"),
            tuple(
                (m.area, m.measure, m.evidence, m.source, "in place" if m.in_place else "GAP")
                for m in report.measures
            ),
        ),
        Section(
            "Denials by rule",
            ("rule", "denied", "evidence"),
            tuple((r, str(n), trace(rid)) for r, (n, rid) in report.denials_by_rule.items())
            or (("none", "0", "-"),),
        ),
        Section(
            "Personal data found and minimised, by category",
            ("category", "findings", "evidence"),
            tuple((c, str(n), trace(rid)) for c, (n, rid) in report.findings_by_category.items())
            or (("none", "0", "-"),),
        ),
        Section(
            "Audit chain verification for the period",
            ("stream", "result", "sealed records", "digests", "not yet sealed", "findings"),
            tuple(
                (
                    c.stream,
                    "OK" if c.ok else "TAMPERED",
                    str(c.records),
                    str(c.digests),
                    str(c.unsealed),
                    "; ".join(c.findings) or "none",
                )
                for c in report.chain
            )
            or (("none", "-", "0", "0", "0", "no stream in scope"),),
        ),
    ]


def render_markdown(report: Art30Report) -> str:
    return markdown(title(report), _sections(report))


def render_csv(report: Art30Report) -> str:
    return csv_text(_sections(report))


def render_html(report: Art30Report) -> str:
    status = (
        '<div class="status ok">Complete: every Art. 30(1) item is filled from configuration, '
        "the deployment and the audit trail.</div>"
        if report.fileable
        else f'<div class="status gaps">{len(report.gaps)} gap(s) before this record can be '
        "filed (see Gaps).</div>"
    )
    denials = {rule: n for rule, (n, _) in report.denials_by_rule.items()}
    findings = {category: n for category, (n, _) in report.findings_by_category.items()}
    charts = [
        ("Requests per day by data level", stacked_columns("levels", report.per_day_by_level)),
        (
            "Model invocations per day by destination",
            stacked_columns("destinations", report.per_day_by_destination),
        ),
        ("Denials by rule", bars("denials", denials)),
        ("Personal data findings by category", bars("findings", findings)),
    ]
    chart_block = (
        '<h2>Charts</h2><div class="charts">'
        + "".join(f'<div class="chart"><h3>{escape(n)}</h3>{svg}</div>' for n, svg in charts)
        + "</div>"
    )
    body = [status]
    for index, section in enumerate(_sections(report)):
        if index == 2:  # after scope and gaps: the picture before the detail
            body.append(chart_block)
        body.append(html_table(section))
    return html_document(title(report), body)


def render(report: Art30Report, fmt: str) -> str:
    """``md``, ``csv`` or ``html`` (``pdf`` is the HTML printed by Chromium)."""
    renderers = {"md": render_markdown, "csv": render_csv, "html": render_html}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}: {', '.join(renderers)}")
    return renderers[fmt](report)
