"""GDPR Article 30 record of processing, built from the audit trail itself.

Every figure comes from audit records (categories and counts, never values), so the report
describes what the system actually did, not what it was configured to do.
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from sovgw.config import Jurisdiction
from sovgw.domain.audit import AuditRecord, Stage
from sovgw.domain.minimise import PURPOSES

DATA_SUBJECTS = {
    "Case": "customers, employees and other people named in cases",
    "Contract": "contract counterparties, signatories and employees under contract",
}


class Art30Record(BaseModel):
    model_config = ConfigDict(frozen=True)

    jurisdiction: str
    controller_orgs: tuple[str, ...]
    purposes: dict[str, int]
    data_levels: dict[str, int]
    data_categories: dict[str, int]
    data_subjects: tuple[str, ...]
    recipients: dict[str, int]
    transfers_outside_jurisdiction: tuple[str, ...]
    denied_requests: int
    retention: str
    records_considered: int


def build_art30(
    jurisdiction: Jurisdiction, orgs: Iterable[str], records: Iterable[AuditRecord], retention: str
) -> Art30Record:
    purposes: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    recipients: Counter[str] = Counter()
    transfers: list[str] = []
    subjects: set[str] = set()
    denied = 0
    count = 0
    for record in records:
        count += 1
        if record.stage is Stage.CLASSIFICATION:
            purposes[record.purpose or "unknown"] += 1
            levels[record.data_level.value if record.data_level else "unknown"] += 1
            categories.update(record.entity_counts)
            spec = PURPOSES.get(record.purpose or "")
            for sobject in spec.fields if spec else ():
                subjects.add(DATA_SUBJECTS.get(sobject, sobject))
        if record.stage is Stage.MODEL_INVOCATION and record.endpoint:
            recipients[f"{record.endpoint} ({record.region})"] += 1
        if record.stage is Stage.ROUTING and record.outcome.value == "denied":
            denied += 1
        if record.region and record.region not in jurisdiction.allowed_regions:
            transfers.append(f"{record.record_id}: {record.stage.value} in {record.region}")
    return Art30Record(
        jurisdiction=jurisdiction.id,
        controller_orgs=tuple(sorted(orgs)),
        purposes=dict(purposes),
        data_levels=dict(levels),
        data_categories=dict(categories),
        data_subjects=tuple(sorted(subjects)),
        recipients=dict(recipients),
        transfers_outside_jurisdiction=tuple(transfers),
        denied_requests=denied,
        retention=retention,
        records_considered=count,
    )


def _rows(report: Art30Record) -> list[tuple[str, str]]:
    def counts(values: dict[str, int]) -> str:
        return "; ".join(f"{k} ({v})" for k, v in sorted(values.items())) or "none"

    transfers = "; ".join(report.transfers_outside_jurisdiction) or (
        f"none: all processing stayed in {report.jurisdiction}'s allowed regions"
    )
    return [
        ("Controller (Salesforce orgs)", ", ".join(report.controller_orgs) or "none"),
        ("Purposes of processing (requests)", counts(report.purposes)),
        ("Data sensitivity levels", counts(report.data_levels)),
        ("Categories of personal data (findings)", counts(report.data_categories)),
        ("Categories of data subjects", "; ".join(report.data_subjects) or "none"),
        ("Recipients (model endpoints, invocations)", counts(report.recipients)),
        ("Requests denied by policy", str(report.denied_requests)),
        ("Transfers outside the jurisdiction", transfers),
        ("Retention of the audit trail", report.retention),
        ("Audit records considered", str(report.records_considered)),
    ]


def render(report: Art30Record, fmt: str) -> str:
    rows = _rows(report)
    title = f"Record of processing activities (GDPR Art. 30): jurisdiction {report.jurisdiction}"
    if fmt == "md":
        lines = [f"# {title}", "", "| item | value |", "|---|---|"]
        lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows]
        return "\n".join(lines) + "\n"
    if fmt == "html":
        body = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
        )
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"</head><body><h1>{html.escape(title)}</h1><table>{body}</table></body></html>\n"
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["item", "value"])
        writer.writerows(rows)
        return out.getvalue()
    raise ValueError(f"unknown format {fmt!r}: md, html or csv")
