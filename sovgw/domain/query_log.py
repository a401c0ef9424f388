"""The query log: one entry per Salesforce call the gateway makes (issue #16), for detecting
anomalous access by the integration's own credentials.

An entry says who (org, principal, lane, grant), why (purpose), what (resource, object,
fields, the SOQL with every literal removed, and its hash) and how much (rows, bytes,
latency). It never holds a value: literals become ``?``, record ids in paths are dropped,
and request and response bodies are only measured.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# SOQL literals: strings (with escapes), datetimes, dates, numbers, and the N of date
# functions such as LAST_N_DAYS:30. Keywords, names and operators stay.
_LITERAL = re.compile(
    r"'(?:[^'\\]|\\.)*'"
    r"|\b\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|(?<=:)\d+\b"
    r"|(?<![\w.])-?\d+(?:\.\d+)?\b"
    r"|\b(?:true|false|null)\b",
    re.IGNORECASE,
)
_LIST_OF_LITERALS = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_SPACE = re.compile(r"\s+")
_SELECT = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)", re.IGNORECASE)
_DATA_PATH = re.compile(r"^/services/data/v\d+\.\d+(?P<rest>/.*)?$")
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def normalise_soql(soql: str) -> str:
    """The query's shape: every literal ``?``, a list of literals ``(?)``, spaces collapsed."""
    shape = _LITERAL.sub("?", soql)
    shape = _LIST_OF_LITERALS.sub("(?)", shape)
    return _SPACE.sub(" ", shape).strip()


def soql_target(shape: str) -> tuple[str | None, tuple[str, ...]]:
    """The object a SELECT reads and the fields it names (``COUNT()`` counts as none)."""
    match = _SELECT.match(shape)
    if match is None:
        return None, ()
    fields = tuple(
        name.strip() for name in match["fields"].split(",") if name.strip().upper() != "COUNT()"
    )
    return match["object"], fields


@dataclass(frozen=True)
class CallContext:
    """Who makes Salesforce calls now and why: set by whatever runs the work (a function's
    invocation, a CLI command, the proxy), read when a call is logged."""

    principal: str = "unknown"
    purpose: str | None = None
    event_uuid: str | None = None  # the Salesforce event whose journey the calls serve


_CONTEXT: ContextVar[CallContext | None] = ContextVar("sovgw_salesforce_call", default=None)
_NOBODY = CallContext()


@contextmanager
def calls_made_as(
    principal: str, purpose: str | None = None, event_uuid: str | None = None
) -> Iterator[None]:
    """Salesforce calls made inside are logged as ``principal`` for ``purpose``, in the
    journey of the Salesforce event ``event_uuid`` (audit trace joins them on it)."""
    token = _CONTEXT.set(CallContext(principal, purpose, event_uuid))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> CallContext:
    return _CONTEXT.get() or _NOBODY


@dataclass(frozen=True)
class SalesforceCall:
    """One query-log entry (no values)."""

    org_id: str | None
    principal: str
    purpose: str | None
    lane: str
    grant_id: str | None
    method: str
    resource: str  # query, sobject, limits, jobs/query, oauth2/token, ...
    status: int
    rows: int | None
    bytes: int
    latency_ms: float
    sobject: str | None = None
    fields: tuple[str, ...] = ()
    soql: str | None = None  # normalised: literals removed
    soql_sha256: str | None = None
    event_uuid: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_call(
    *,
    method: str,
    url: str,
    status: int,
    body_bytes: int,
    rows: int | None,
    latency_ms: float,
    org_id: str | None,
    lane: str,
    grant_id: str | None,
    context: CallContext | None = None,
    body_soql: str | None = None,
) -> SalesforceCall:
    """The entry for one HTTP call to Salesforce, from its method, URL and measurements (and
    ``body_soql``, the query a Bulk API job was created with in the request body)."""
    context = context or current_context()
    parts = urlsplit(url)
    params = parse_qs(parts.query)
    path = unquote(parts.path)
    sobject: str | None = None
    fields: tuple[str, ...] = ()
    shape: str | None = None
    match = _DATA_PATH.match(path)
    if match is None:
        resource = path.strip("/").removeprefix("services/") or "/"
    else:
        steps = [step for step in (match["rest"] or "/").strip("/").split("/") if step]
        resource = _resource(steps)
        if steps[:1] == ["sobjects"] and len(steps) >= 2:
            sobject = steps[1]
            named = params.get("fields", [""])[0]
            fields = tuple(name for name in named.split(",") if name)
        soql = params.get("q", [None])[0] or body_soql
        if soql:
            shape = normalise_soql(soql)
            sobject, fields = soql_target(shape)
    return SalesforceCall(
        org_id=org_id,
        principal=context.principal,
        purpose=context.purpose,
        lane=lane,
        grant_id=grant_id,
        method=method,
        resource=resource,
        status=status,
        rows=rows,
        bytes=body_bytes,
        latency_ms=round(latency_ms, 1),
        sobject=sobject,
        fields=fields,
        soql=shape,
        soql_sha256=hashlib.sha256(shape.encode()).hexdigest() if shape else None,
        event_uuid=context.event_uuid,
    )


def _resource(steps: list[str]) -> str:
    """The path without record ids, external id values or job ids (``sobjects/Case``)."""
    kept: list[str] = []
    for index, step in enumerate(steps):
        if steps[0] == "sobjects" and index >= 2:
            break  # an id, or an external-id field and its value
        if _ID.match(step) and index > 0:
            continue
        kept.append(step)
    return "/".join(kept) or "/"


def rows_in(
    payload: Mapping[str, Any] | list[Any] | None, headers: Mapping[str, str]
) -> int | None:
    """How many records a response returned: a query page's records, a Bulk API results
    page's Sforce-NumberOfRecords, one record for a record read."""
    counted = headers.get("Sforce-NumberOfRecords")
    if counted is not None and counted.isdigit():
        return int(counted)
    if isinstance(payload, Mapping):
        if isinstance(payload.get("records"), list):
            return len(payload["records"])
        if "attributes" in payload:
            return 1
    return None
