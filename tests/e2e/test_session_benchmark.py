"""The session stampede benchmark at full size (8 processes, 100 concurrent calls), against
the simulator, a real redis-server and the stack's LocalStack KMS."""

from benchmarks.lockout.sessions import run
from sovgw.local.stack import LocalSovereignStack


def test_one_expired_session_costs_one_token_request_across_processes(
    stack: LocalSovereignStack,  # LocalStack's KMS seals the shared session
) -> None:
    report = run(processes=8, calls=100)
    assert report["checks"] == {
        "shared_one_token_request": True,
        "every_call_saw_the_expiry": True,
        "every_call_succeeded": True,
    }
    modes = report["modes"]
    assert modes["shared"]["token_requests"] == 1
    assert modes["shared"]["invalid_session_answers"] == 100
    assert modes["per_process"]["token_requests"] == 8, "one refresh per process"
    assert modes["per_client"]["token_requests"] == 100, "the stampede sharing prevents"
