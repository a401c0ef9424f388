"""The chaos benchmark, small: its invariants hold and its report is complete.

The full run (10,000 routine requests, 16 workers) is `python -m benchmarks.lockout`.
"""

from benchmarks.lockout.bench import run


def test_a_small_storm_keeps_every_invariant() -> None:
    report = run(routine=400, workers=4, daily_limit=200, emergencies=6, duration_s=3.0)
    assert report["checks"] == {
        "lockouts_zero": True,
        "emergency_success_100pct": True,
        "non_emergency_within_limit_minus_reserve": True,
        "rotation_failures_zero": True,
        "routine_lost_zero": True,
    }
    assert report["routine_done"] + report["routine_still_queued"] == 400
    revoked, refused = report["revoked_app"], report["refused_token_requests_by_app"]
    assert set(refused) <= {revoked}, "only the revoked credential may be refused"
    assert sum(refused.values()) <= 1, "presented at most once, by the one refreshing worker"
    tokens = report["token_requests_by_app"]
    (other,) = {"3MVG9integration-a", "3MVG9integration-b"} - {revoked}
    assert tokens[other] == 1, "the revocation cost one login for every worker, not one each"
    assert tokens["3MVG9emergency"] == 1, "the grant's emergency calls share one session"
    assert report["non_emergency_calls"] <= report["non_emergency_ceiling"] == 180
