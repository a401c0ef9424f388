"""Structured logs that cannot carry personal data or secrets.

Every value of every log line passes through the DLP detectors and a secret-shape scrubber
before it is written, so a careless ``logger.info(..., note=record_text)`` still leaks nothing.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from sovgw.domain import dlp
from sovgw.domain.canaries import NO_CANARIES, CanaryWatch, Sighting

_SECRETS = re.compile(
    r"00D[a-zA-Z0-9]{12,15}![\w.\-]+"  # Salesforce access token / session id
    r"|5Aep[\w.\-]{20,}"  # Salesforce refresh token
    r"|(?i:bearer)\s+[\w.\-~+/]{16,}=*"
    r"|eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"  # JWT
    r"|(?i:(?:client_secret|password|secret|token)[\"']?\s*[=:]\s*[\"']?)[^\s\"',}]{6,}"
)


_canaries: ContextVar[CanaryWatch] = ContextVar("canaries", default=NO_CANARIES)
_sightings: list[Sighting] = []
_sightings_lock = threading.Lock()
CANARY_WITHHELD = "[WITHHELD: LEAK CANARY]"


def watch_canaries(watch: CanaryWatch) -> None:
    """Log values holding one of these are withheld and their sighting kept for
    ``take_sightings`` (set per invocation; logging itself never reads a store)."""
    _canaries.set(watch)


def take_sightings() -> list[Sighting]:
    """The canaries seen in log values since the last call, each once (a line may carry the
    same value in several fields: an exception's text and its stack trace)."""
    with _sightings_lock:
        taken = list(dict.fromkeys(_sightings))
        _sightings.clear()
    return taken


def redact_text(text: str) -> str:
    watch = _canaries.get()
    sighting = watch.seen(text, "log_line") if watch else None
    if sighting is not None:
        with _sightings_lock:
            _sightings.append(sighting)
        return CANARY_WITHHELD
    text = _SECRETS.sub("[SECRET]", text)
    findings = [f for f in dlp.detect(text) if f.entity is not dlp.EntityType.PRIVILEGED]
    return dlp.redact(text, findings, Counter()) if findings else text


def redact(value: Any) -> Any:
    """``value`` with every string inside it redacted (dicts and lists walked). Any other
    object is written as its ``str`` by the JSON serialiser, after this step: it is turned
    into that text here and redacted (Powertools puts the exception itself in
    ``stack_trace.value``, and its message may quote anything)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with a redaction step before serialisation."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        return super().serialize(redact(log))


class _RedactedOutput(logging.Formatter):
    """Whatever a handler's own formatter writes, redacted: the message and any traceback a
    library attaches (uvicorn's "Exception in ASGI application", asyncio's "Task exception
    was never retrieved" quote the exception's text). A JSON line (the Lambda runtime's
    format for the functions) is redacted value by value and written again: its text escapes
    quotes, which would hide a ``"password": "..."`` from the scrubber and let a masked span
    swallow an escape."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        written = self.inner.format(record)
        if written.startswith("{"):
            try:
                parsed = json.loads(written)
            except ValueError:
                pass
            else:
                line_end = written[len(written.rstrip("\n")) :]
                return _JSON_LINE(redact(parsed)) + line_end
        return redact_text(written)


_JSON_LINE = json.JSONEncoder(ensure_ascii=False).encode


def redact_library_logs() -> None:
    """Route what other libraries log through the same redaction as the gateway's own lines:
    the root logger's handlers (in Lambda, the runtime's, installed before the function is
    imported) and Python's last-resort handler (stderr, when no handler is configured, as in
    the proxy). Handlers added later are not covered. Calling it again changes nothing."""
    for handler in [*logging.getLogger().handlers, logging.lastResort]:
        if handler is not None and not isinstance(handler.formatter, _RedactedOutput):
            handler.setFormatter(_RedactedOutput(handler.formatter))


GATEWAY_LOGGER = "sovgw"  # the stdlib logger behind every gateway Logger (Powertools names it so)


def make_logger(service: str = GATEWAY_LOGGER) -> Logger:
    return Logger(service=service, logger_formatter=RedactingFormatter())
