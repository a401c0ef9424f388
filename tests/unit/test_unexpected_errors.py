"""An exception that is not the gateway's own leaves an invocation as its type only.

Run through awslambdaric (the runtime interface client of AWS's Python images), an uncaught
exception's text and stack are written to the function's log by the runtime itself and posted
as the invocation's error, which is what a dead-letter message's ErrorMessage and a Step
Functions failure's Cause carry. None of that passes the redacting logger.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from awslambdaric import bootstrap
from awslambdaric.lambda_runtime_marshaller import LambdaMarshaller

import functions.rotate.handler as rotate
from sovgw.app.invocation import logger, run_handler
from sovgw.domain.canaries import NO_CANARIES
from sovgw.domain.errors import UpstreamUnavailable
from tests.factories import make_jurisdiction
from tests.fakes import MemoryAudit

EMAIL = "jan.jansen@example.nl"
CARD = "4111 1111 1111 1111"
FUNCTION_ARN = "arn:aws:lambda:eu-central-1:123456789012:function:sovgw-eu-de-classify"
Handler = Callable[[dict[str, Any], Any], Any]


class RuntimeApi:
    """What the runtime posts back to Lambda's Runtime API for one invocation."""

    marshaller = LambdaMarshaller()

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def post_invocation_error(
        self, invoke_id: str, error: str, xray_fault: str, invocation_id: str | None = None
    ) -> None:
        self.errors.append((error, xray_fault))

    def post_invocation_result(
        self, invoke_id: str, result: Any, content_type: str, invocation_id: str | None = None
    ) -> None:
        raise AssertionError("the invocation was expected to fail")


def _invoke(handler: Handler, event: Mapping[str, Any], capfd: pytest.CaptureFixture[str]) -> str:
    """Everything the runtime and the function wrote or posted for one failed invocation."""
    capfd.readouterr()
    api = RuntimeApi()
    logged = io.StringIO()
    log_handler = logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    stream = log_handler.setStream(logged)  # the functions' logger, wherever it writes
    try:
        bootstrap.handle_event_request(
            api,
            handler,
            "request-1",
            json.dumps(event).encode(),
            "application/json",
            None,
            None,
            FUNCTION_ARN,
            2**40,
            None,
            bootstrap.StandardLogSink(),
        )
    finally:
        log_handler.setStream(stream)
    [(error, xray_fault)] = api.errors
    printed = capfd.readouterr()
    return "\n".join((error, xray_fault, printed.out, printed.err, logged.getvalue()))


def _deps() -> SimpleNamespace:
    return SimpleNamespace(
        canaries=lambda: NO_CANARIES,
        relay_ledger=None,
        audit=MemoryAudit(),
        dead_letters=None,
        jurisdiction=make_jurisdiction(),
        on_canary=None,
    )


def _fails(event: Mapping[str, Any], deps: Any) -> dict[str, Any]:
    raise ValueError(f"no contact for {EMAIL}, card {CARD}")


def _through_run_handler(event: dict[str, Any], context: Any) -> Any:
    return run_handler("classify", _fails, event, _deps())  # type: ignore[arg-type]


def _unguarded(event: dict[str, Any], context: Any) -> Any:
    return _fails(event, None)


def test_unguarded_the_runtime_writes_and_posts_the_text(capfd: pytest.CaptureFixture[str]) -> None:
    """The control: the same failure outside the guard reaches the log and the error."""
    everything = _invoke(_unguarded, {"id": "ev-0"}, capfd)
    assert EMAIL in everything and CARD in everything


def test_an_unexpected_error_leaves_as_its_type_only(capfd: pytest.CaptureFixture[str]) -> None:
    everything = _invoke(_through_run_handler, {"id": "ev-1", "detail": {}}, capfd)
    assert EMAIL not in everything and CARD not in everything
    assert "UnexpectedFailure" in everything and "ValueError in classify" in everything
    logged = [
        json.loads(line)
        for line in everything.splitlines()
        if line.startswith("{") and '"unexpected failure"' in line
    ]
    assert logged, "the function's own log line for it, redacted"
    assert "[EMAIL_1]" in json.dumps(logged) and "[CREDIT_CARD_1]" in json.dumps(logged)


def test_the_rotation_function_withholds_it_too(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def step(*args: Any) -> str:
        raise KeyError(f"secret of {EMAIL}")

    monkeypatch.setattr(rotate, "dependencies_from_env", _deps)
    monkeypatch.setattr(rotate, "run_step", step)
    token = "7f0c6e5a-4b1d-4f8e-9c2a-1d3e5f7a9b0c"
    event = {"Step": "createSecret", "SecretId": "sovgw/eu-de/sf", "ClientRequestToken": token}
    everything = _invoke(rotate.lambda_handler, event, capfd)
    assert EMAIL not in everything
    assert "UnexpectedFailure" in everything and "KeyError in rotate" in everything


def test_the_gateways_own_errors_keep_their_type_and_text() -> None:
    def unavailable(event: Mapping[str, Any], deps: Any) -> dict[str, Any]:
        raise UpstreamUnavailable("Salesforce answered 503 SERVER_UNAVAILABLE")

    with pytest.raises(UpstreamUnavailable, match="503 SERVER_UNAVAILABLE") as raised:
        run_handler("route", unavailable, {"id": "ev-2", "detail": {}}, _deps())  # type: ignore[arg-type]
    assert type(raised.value) is UpstreamUnavailable


def test_a_failure_while_building_the_dependencies_is_withheld_too(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every handler builds its dependencies before run_handler: a configuration that does not
    load may quote what it holds (a data protection officer's address)."""
    import functions.classify.handler as classify  # noqa: PLC0415
    from sovgw.app import bootstrap  # noqa: PLC0415

    def unloadable(path: object) -> None:
        raise ValueError(f"dpo.email: {EMAIL} is not allowed here")

    monkeypatch.setenv("SOVGW_JURISDICTION", "eu-de")
    monkeypatch.setattr(bootstrap, "load_config", unloadable)
    bootstrap.dependencies_from_env.cache_clear()
    try:
        everything = _invoke(classify.lambda_handler, {"id": "ev-3", "detail": {}}, capfd)
    finally:
        bootstrap.dependencies_from_env.cache_clear()
    assert EMAIL not in everything
    assert "UnexpectedFailure" in everything and "ValueError in start-up" in everything
