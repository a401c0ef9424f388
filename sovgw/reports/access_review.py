"""The access review as Markdown and CSV, from the same tables."""

from __future__ import annotations

from datetime import datetime

from sovgw.domain.access_review import AccessReview
from sovgw.reports.tables import Section, csv_text, markdown


def title(review: AccessReview) -> str:
    return f"Access review of org {review.org_id}, {review.quarter}"


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value else "-"


def sections(review: AccessReview) -> list[Section]:
    credentials = tuple(
        (
            row.credential.secret_name,
            row.credential.role,
            row.credential.client_id or "MISSING",
            row.user.username if row.user else (row.credential.refused or "-"),
            row.credential.scope or "-",
            str(row.credential.last_accessed or "-"),
            _when(row.last_login),
            _when(row.credential.last_rotated),
        )
        for row in review.credentials
    )
    assignments = tuple(
        (user.username, a.permission_set, _when(a.expires) if a.expires else "never")
        for user, a in review.assignments
    )
    grants = tuple((_when(g.at), g.step, g.principal, g.record_id) for g in review.grants)
    findings = tuple((f.kind, f.subject, f.detail) for f in review.findings)
    return [
        Section(
            "Findings",
            ("Finding", "Subject", "Detail"),
            findings,
            "Each finding needs the reviewer's decision (fix, or accept with a reason).",
        ),
        Section(
            "Credentials",
            (
                "Secret",
                "Role",
                "Client id",
                "Acts as",
                "Scopes",
                "Secret last read",
                "User's last login",
                "Last rotated",
            ),
            credentials,
            "Acts as and scopes: from one login with each credential during the review "
            "(its token revoked at once); last login: Salesforce's LoginHistory before it.",
        ),
        Section(
            "Permission sets of the service users",
            ("User", "Permission set", "Expires"),
            assignments,
        ),
        Section(
            f"Break-glass steps in {review.quarter}",
            ("At", "Step", "Principal", "Audit record"),
            grants,
        ),
    ]


def render_markdown(review: AccessReview) -> str:
    header = f"Generated {_when(review.generated)}; {len(review.findings)} finding(s)."
    return markdown(title(review), sections(review)).replace("\n", f"\n{header}\n", 1)


def render_csv(review: AccessReview) -> str:
    return csv_text(sections(review))
