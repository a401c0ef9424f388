"""Secrets Manager's four rotation steps through in-memory ports: what each step does, that
each is idempotent, and that a failure leaves ``AWSCURRENT`` untouched."""

from __future__ import annotations

import pytest

from sovgw.domain.errors import RejectedInput
from sovgw.domain.rotation import CURRENT, PENDING, STEPS, RotationFailed, rotate_step
from tests.fakes import FakeConnectedApp, MemoryRetirement, MemorySecret

SECRET = "sovgw/eu-de/salesforce/00D5E0000000001/b"
TOKEN = "token-0002"


def _secret(name: str = SECRET) -> MemorySecret:
    value = {"client_id": "3MVG-b", "client_secret": "secret-0", "token_url": "https://x"}
    return MemorySecret(name, {"v1": ((CURRENT,), value)})


def _run(
    step: str,
    secret: MemorySecret,
    app: FakeConnectedApp,
    retirement: MemoryRetirement,
    token: str = TOKEN,
) -> str:
    return rotate_step(
        step,
        secret.name,
        token,
        versions=secret,
        salesforce=app,
        retirement=retirement,
        credential_id=lambda name, version: f"{name.rsplit('/', 1)[-1]}@{version}",
    )


def test_four_steps_stage_test_and_rotate_in_a_new_secret() -> None:
    secret, app, retirement = _secret(), FakeConnectedApp(), MemoryRetirement()
    done = [_run(step, secret, app, retirement) for step in STEPS]
    assert [line.split(":")[0] for line in done] == list(STEPS)
    assert secret.current()["client_secret"] == "secret-1" == app.secret
    assert retirement.retired == ["b@v1"] and app.staged is None


def test_every_step_may_run_again() -> None:
    secret, app, retirement = _secret(), FakeConnectedApp(), MemoryRetirement()
    for step in STEPS:
        _run(step, secret, app, retirement)
        _run(step, secret, app, retirement)
    assert app.issued == 1 and secret.current()["client_secret"] == app.secret


def test_a_pending_secret_that_does_not_log_in_stops_the_rotation() -> None:
    secret, app, retirement = _secret(), FakeConnectedApp(), MemoryRetirement()
    _run("createSecret", secret, app, retirement)
    app.logins_refused = True
    with pytest.raises(RotationFailed, match="does not log in"):
        _run("testSecret", secret, app, retirement)
    assert secret.current()["client_secret"] == "secret-0" and app.staged is None
    assert retirement.retired == []


def test_the_emergency_credential_waits_for_active_grants() -> None:
    secret = _secret(SECRET.replace("/b", "/emergency"))
    with pytest.raises(RotationFailed, match="break-glass grant is active"):
        _run("createSecret", secret, FakeConnectedApp(), MemoryRetirement(grant_active=True))
    assert PENDING not in {s for stages, _ in secret.versions.values() for s in stages}


def test_unknown_steps_and_foreign_versions_are_refused() -> None:
    secret, app, retirement = _secret(), FakeConnectedApp(), MemoryRetirement()
    with pytest.raises(RejectedInput, match="unknown rotation step"):
        _run("dropSecret", secret, app, retirement)
    secret.versions["v0"] = (("AWSPREVIOUS",), {"client_id": "3MVG-b"})
    with pytest.raises(RejectedInput, match="is not AWSPENDING"):
        _run("testSecret", secret, app, retirement, token="v0")
    assert "already AWSCURRENT" in _run("finishSecret", secret, app, retirement, token="v1")
    with pytest.raises(RotationFailed, match="no AWSPENDING value"):
        _run("finishSecret", secret, app, retirement)
