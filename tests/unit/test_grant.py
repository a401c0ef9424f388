"""The grant record and in-process sessions: what ``show`` reports, records written before
the opening steps existed, and sessions that end with their scope."""

from __future__ import annotations

import pytest

from sovgw.adapters.salesforce.oauth import SalesforceCredentials
from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.adapters.sessions import LocalSessions, SessionsEnded
from sovgw.domain.break_glass import CLOSING_STEPS, OPENING_STEPS, Grant, GrantStatus

REQUEST = {
    "request_id": "req-00000001",
    "org_id": "00D5E0000000001UAA",
    "jurisdiction": "eu-de",
    "requested_by": "0055E000000000CQAQ",
    "target_user": "0055E000000000CQAQ",
    "reason": "Regulator inquiry today",
    "case_reference": "MATTER-1",
    "scope": "Case:read",
    "duration_s": 600,
    "requested_at": 1,
    "approve_by": 2,
}


def test_the_pending_step_is_the_first_not_done_of_the_current_table() -> None:
    opening = Grant(**REQUEST, status=GrantStatus.GRANTING, opened=list(OPENING_STEPS[:2]))
    assert opening.pending_step == OPENING_STEPS[2]
    assert opening.view()["pending_step"] == OPENING_STEPS[2]
    closing = Grant(**REQUEST, status=GrantStatus.EXPIRING, closed=[CLOSING_STEPS[0]])
    assert closing.pending_step == CLOSING_STEPS[1]
    granted = Grant(**REQUEST, status=GrantStatus.GRANTED, opened=list(OPENING_STEPS))
    assert granted.pending_step is None


def test_a_record_from_before_the_step_tables_still_resumes_its_expiry() -> None:
    legacy = Grant.model_validate(
        {**REQUEST, "status": "EXPIRING", "steps_done": ["remove_assignments"], "tokens": ["x"]}
    )
    assert legacy.closed == ["remove_assignments"]
    assert legacy.pending_step == "end_aws_sessions"
    assert "tokens" not in legacy.view()


def test_sessions_are_minted_once_per_staleness_and_never_after_their_scope_ended() -> None:
    sessions = LocalSessions()
    minted: list[dict[str, str]] = []

    def mint() -> dict[str, str]:
        minted.append({"access_token": f"t{len(minted)}", "instance_url": "https://x"})
        return minted[-1]

    discarded: list[object] = []
    first = sessions.session("org:grant:g", None, mint, discarded.append)
    assert sessions.session("org:grant:g", None, mint, discarded.append) is first
    assert sessions.session("org:grant:g", "some-older-token", mint, discarded.append) is first
    second = sessions.session("org:grant:g", first["access_token"], mint, discarded.append)
    assert second is not first and len(minted) == 2
    sessions.end("org:grant:g")
    with pytest.raises(SessionsEnded):
        sessions.session("org:grant:g", None, mint, discarded.append)
    assert sessions.minted("org:grant:g") == minted, "every one is there to be revoked"
    assert discarded == []


def test_shared_sessions_without_an_org_are_refused() -> None:
    credentials = SalesforceCredentials(
        token_url="https://x/token", client_id="c", client_secret="s"
    )
    with pytest.raises(ValueError, match="scoped by org"):
        SalesforceRecords(credentials, sessions=LocalSessions())
    scoped = SalesforceRecords(credentials, sessions=LocalSessions(), org_id="00D5E0000000001UAA")
    assert scoped.session_scope == "00D5E0000000001:integration"
