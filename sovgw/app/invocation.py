"""One invocation of a function's logic: the correlation ids its logs and audit records carry,
and the one decision that turns an exception into "retry" or "dead-letter now"."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sovgw.domain.audit import rejection_record
from sovgw.domain.canaries import Sighting
from sovgw.domain.errors import GatewayError, UnexpectedFailure
from sovgw.domain.query_log import calls_made_as
from sovgw.domain.relay_watch import relay_receipt
from sovgw.logs import make_logger, redact_library_logs, take_sightings, watch_canaries

if TYPE_CHECKING:  # the composition root links its audit records to the invocation
    from sovgw.app.bootstrap import Dependencies

logger = make_logger()
redact_library_logs()  # the Lambda runtime's own handler, and any library's lines through it
_invocation: ContextVar[Mapping[str, str] | None] = ContextVar("invocation", default=None)

type EventLogic = Callable[[Mapping[str, Any], Dependencies], dict[str, Any]]


def invocation_links() -> Mapping[str, str]:
    """Lambda request id and X-Ray trace id of the invocation in progress (for audit links)."""
    return _invocation.get() or {}


def run_handler(
    function_name: str,
    logic: EventLogic,
    event: Mapping[str, Any],
    deps: Dependencies,
    context: Any = None,
) -> dict[str, Any]:
    """Run ``logic``; dead-letter input that can never succeed, let retryable errors raise.

    This is the only place that turns an exception into "retry" or "dead-letter now". It also
    sets the correlation id of the logs and the invocation ids the audit records link to.
    """
    request_id = getattr(context, "aws_request_id", None) or f"local-{uuid.uuid4()}"
    links = {"lambda_request_id": request_id}
    trace_id = os.environ.get("_X_AMZN_TRACE_ID")
    if trace_id:
        links["xray_trace_id"] = trace_id.split(";")[0].removeprefix("Root=")
    token = _invocation.set(links)
    logger.set_correlation_id(str(event.get("id", "")))
    watch = deps.canaries()
    watch_canaries(watch)
    seen: list[Sighting] = []
    try:
        with (
            calls_made_as(function_name, _purpose_of(event), _journey_of(event)),
            unexpected_errors_withheld(function_name, event),
        ):
            _note_relay_receipt(event, deps)
            return logic(event, deps)
    except GatewayError as error:
        if error.retryable:
            logger.warning(
                "retryable failure",
                function=function_name,
                event_id=event.get("id"),
                error=type(error).__name__,
                reason=str(error),
            )
            raise
        reason = f"{type(error).__name__}: {error}"
        sighting = watch.seen(reason, "dead_letter_reason") if watch else None
        if sighting is not None:  # the reason would carry it into the queue and the logs
            seen.append(sighting)
            reason = f"{type(error).__name__}: [withheld: it held a leak canary]"
        logger.warning(
            "event dead-lettered", function=function_name, event_id=event.get("id"), reason=reason
        )
        deps.audit.write(rejection_record(function_name, event, reason, deps.jurisdiction.id))
        deps.dead_letters.send(function_name, event, reason, attempts=1)
        return {"status": "dead-lettered", "reason": reason}
    finally:
        raise_canaries(function_name, event, deps, [*seen, *take_sightings()])
        _invocation.reset(token)


@contextmanager
def unexpected_errors_withheld(function_name: str, event: Mapping[str, Any]) -> Iterator[None]:
    """Turn an exception that is not a ``GatewayError`` into an ``UnexpectedFailure`` that
    names only its type, after logging it through the redacting logger. Left uncaught, its
    text and stack would reach the function's log (the Lambda runtime writes them itself),
    the dead-letter message's ``ErrorMessage`` and a Step Functions failure's ``Cause``, none
    of which this process redacts."""
    try:
        yield
    except GatewayError:
        raise
    except Exception as error:
        name = type(error).__name__
        logger.exception("unexpected failure", function=function_name, event_id=event.get("id"))
        raise UnexpectedFailure(
            f"{name} in {function_name}; its text is withheld (the function's log has it redacted)"
        ) from None


def raise_canaries(
    function_name: str, event: Mapping[str, Any], deps: Dependencies, seen: list[Sighting]
) -> None:
    """Each canary seen on the way out (a log line, a dead letter, a training dataset): an
    audit record (kind and org, never the value) and the alarm (an incident)."""
    for sighting in seen:
        record = rejection_record(
            f"{function_name}/canary/{sighting.path}", event, sighting.reason, deps.jurisdiction.id
        )
        deps.audit.write(record)
        deps.on_canary(sighting, record.record_id)


def _purpose_of(event: Mapping[str, Any]) -> str | None:
    """The purpose an AI request event names (its Salesforce calls are logged under it)."""
    detail = event.get("detail")
    payload = detail.get("payload") if isinstance(detail, Mapping) else None
    purpose = payload.get("Purpose__c") if isinstance(payload, Mapping) else None
    return purpose if isinstance(purpose, str) else None


def _journey_of(event: Mapping[str, Any]) -> str | None:
    """The Salesforce event a function's work serves: a relayed event's own id, or the one
    the gateway's events carry along (``event_uuid``)."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return None
    for key in ("event_uuid", "id"):
        value = detail.get(key)
        if isinstance(value, str):
            return value
    return None


def _note_relay_receipt(event: Mapping[str, Any], deps: Dependencies) -> None:
    """Every event from an org's relay enters its ledger before it is handled (a refused one
    was still delivered), so a replay puts back only what never arrived. Best effort: without
    the entry, a replay puts the event back once more, and every stage deduplicates."""
    receipt = relay_receipt(event)
    if receipt is None or deps.relay_ledger is None:
        return
    try:
        deps.relay_ledger.received(receipt.org_id, receipt)
    except GatewayError as error:
        logger.warning("relay ledger not updated", error=type(error).__name__)
