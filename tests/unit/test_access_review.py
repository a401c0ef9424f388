"""The access review's judgement: what each service user may hold, which credentials are
unused, missing, refused or shared, and the quarter's bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sovgw.domain.access_review import (
    Assignment,
    Credential,
    GrantSeen,
    Login,
    Quarter,
    ServiceUser,
    review,
    review_digest,
)
from sovgw.reports.access_review import render_csv, render_markdown

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
INTEGRATION = ServiceUser("005A", "integration@contoso.example", True)
MONITOR = ServiceUser("005M", "relay-monitor@contoso.example", True)
RECENT = date(2026, 11, 30)


def _credentials(**changes: Credential) -> list[Credential]:
    base = {
        "a": Credential("s/a", "integration", "cid-a", RECENT, user_id="005A", scope="api"),
        "b": Credential("s/b", "integration", "cid-b", RECENT, user_id="005A", scope="api"),
        "emergency": Credential("s/e", "emergency", "cid-e", None, user_id="005A", scope="api"),
        "monitor": Credential("s/m", "monitor", "cid-m", RECENT, user_id="005M", scope="api"),
    }
    return list((base | changes).values())


def _review(
    credentials: list[Credential] | None = None,
    assignments: list[Assignment] | None = None,
    **extra: object,
) -> list[tuple[str, str]]:
    result = review(
        "00D5E0000000001UAA",
        Quarter(2026, 4),
        generated=NOW,
        credentials=credentials or _credentials(),
        logins=[Login("005A", NOW - timedelta(hours=1), "Success")],
        users=extra.get("users", {"005A": INTEGRATION, "005M": MONITOR}),  # type: ignore[arg-type]
        assignments=assignments
        or [
            Assignment("005A", "Sovgw_Integration", None),
            Assignment("005M", "Sovgw_Relay_Monitor", None),
        ],
        grants=[],
        other_orgs_client_ids=extra.get("others", {}),  # type: ignore[arg-type]
        review_days=extra.get("review_days", frozenset()),  # type: ignore[arg-type]
    )
    return [(f.kind, f.subject) for f in result.findings]


def test_a_pool_as_declared_has_no_finding() -> None:
    assert _review() == []


def test_sets_beyond_the_allow_list_and_temporary_sets_held_for_good_are_findings() -> None:
    expires = NOW + timedelta(days=2)
    findings = _review(
        assignments=[
            Assignment("005A", "Sovgw_Integration", None),
            Assignment("005A", "Sovgw_Dataset_Export", None),  # an export window never closed
            Assignment("005A", "Break_Glass_Case_Read", expires),  # bounded: allowed
            Assignment("005A", "Modify_All_Data", None),
            Assignment("005M", "Sovgw_Integration", None),  # the monitor reads set-up only
            Assignment("005P", "Break_Glass_Approver", None),  # a person: not in this review
        ]
    )
    assert findings == [
        ("standing_temporary_set", "integration@contoso.example"),
        ("permission_beyond_allow_list", "integration@contoso.example"),
        ("permission_beyond_allow_list", "relay-monitor@contoso.example"),
    ]


def test_unused_missing_refused_and_shared_credentials_are_findings() -> None:
    stale = date(2026, 8, 1)  # 123 days before the review
    findings = _review(
        _credentials(
            a=Credential("s/a", "integration", "cid-a", stale, user_id="005A"),
            b=Credential("s/b", "integration", None),
            monitor=Credential("s/m", "monitor", "cid-m", RECENT, refused="invalid_client"),
        ),
        others={"cid-e": "00D5F0000000002UAA"},
    )
    assert findings == [
        ("unused_credential", "s/a"),
        ("missing_credential", "s/b"),
        ("shared_credential", "s/e"),
        ("refused_credential", "s/m"),
    ]


def test_a_read_on_an_earlier_reviews_day_is_the_review_not_the_gateway() -> None:
    assert _review(review_days=frozenset({RECENT})) == [
        ("unused_credential", "s/a"),
        ("unused_credential", "s/b"),
        ("unused_credential", "s/m"),
    ]


def test_an_emergency_credential_is_never_unused_and_an_inactive_user_is_named() -> None:
    """The emergency credential was never read (no emergency yet): kept, not retired."""
    departed = ServiceUser("005M", "relay-monitor@contoso.example", False)
    findings = _review(users={"005A": INTEGRATION, "005M": departed})
    assert findings == [("inactive_user", "s/m")]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026Q4", datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2027Q1", datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC)),
    ],
)
def test_quarters(text: str, start: datetime, end: datetime) -> None:
    quarter = Quarter.parse(text)
    assert (quarter.start, quarter.end, str(quarter)) == (start, end, text)
    assert Quarter.of(start) == quarter
    with pytest.raises(ValueError, match="not a quarter"):
        Quarter.parse("2026-Q4")


def test_the_digest_names_every_file_by_hash_and_the_client_ids() -> None:
    result = review(
        "00D5E0000000001UAA", Quarter(2026, 4), generated=NOW, credentials=_credentials(),
        logins=[], users={"005A": INTEGRATION}, assignments=[],
        grants=[GrantSeen(NOW, "granted", "0055E000000000DQAQ", "rec-1")],
        other_orgs_client_ids={},
    )  # fmt: skip
    files = {
        "review.md": render_markdown(result).encode(),
        "review.csv": render_csv(result).encode(),
    }
    digest = review_digest(result, files)
    assert set(digest.files) == {"review.md", "review.csv"}
    assert digest.client_ids == ("cid-a", "cid-b", "cid-e", "cid-m")
    assert (
        b"| " + NOW.isoformat(timespec="minutes").encode() + b" | granted |" in files["review.md"]
    )
    assert digest.signed_bytes() == digest.model_copy().signed_bytes()
