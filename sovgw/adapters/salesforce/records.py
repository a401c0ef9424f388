"""``CrmRecords`` over the Salesforce REST API: every call admitted by the org's shared budget
for its lane, sessions shared per scope, refused credentials never presented again, and every
Salesforce error mapped to retryable or not in one place (``SalesforceRecords.call``)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.format import format_soql

from sovgw.adapters.salesforce import oauth, schema
from sovgw.adapters.salesforce.credentials import CredentialPool
from sovgw.adapters.salesforce.oauth import (
    CredentialRefused,
    SalesforceCredentials,
    http_session,
    revoke_token,
)
from sovgw.adapters.sessions import LocalSessions
from sovgw.domain.budget import BudgetDeferred, Lane
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.domain.levels import DataLevel
from sovgw.domain.query_log import current_context, describe_call, rows_in
from sovgw.domain.write_back import AIResult
from sovgw.ports import BudgetStore, QueryLog, SessionCache

API_VERSION = "62.0"
METADATA_TTL_SECONDS = 300.0
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class OrgBudget:
    """The shared budget store seen from one org (``None`` store: no guard, e.g. the simulator's
    own tests)."""

    def __init__(
        self,
        store: BudgetStore,
        org_id: str,
        on_observed: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.org_id = org_id
        self._on_observed = on_observed

    def observe_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """requests hook: every Salesforce response says how much of the day is used."""
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.store.observe(self.org_id, int(match.group(1)), int(match.group(2)))
            if self._on_observed is not None:
                self._on_observed(self.org_id)


class SalesforceRecords:
    """``CrmRecords`` for one org over the REST API, through the org's budget and credential
    pool: every call is admitted for its lane first, every response's ``Sforce-Limit-Info`` is
    recorded, a refused credential is never presented again. Sessions come from ``sessions``
    (shared with every other caller of the same scope; one login refreshes them all)."""

    def __init__(
        self,
        credentials: SalesforceCredentials | CredentialPool,
        *,
        budget: OrgBudget | None = None,
        lane: Lane = Lane.INTERACTIVE,
        grant_id: str | None = None,
        ca_bundle: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sessions: SessionCache | None = None,
        org_id: str | None = None,
        query_log: QueryLog | None = None,
    ) -> None:
        self._org_id = org_id or (budget.org_id if budget is not None else None)
        if sessions is not None and self._org_id is None:
            raise ValueError("shared Salesforce sessions are scoped by org: name the org")
        self._sessions: SessionCache = sessions if sessions is not None else LocalSessions()
        self._pool = (
            credentials
            if isinstance(credentials, CredentialPool)
            else CredentialPool.single(credentials)
        )
        self._budget = budget
        self.lane = lane
        self.grant_id = grant_id
        self._http = http_session(ca_bundle)
        if budget is not None:
            self._http.hooks["response"].append(budget.observe_response)
        self._query_log = query_log
        if query_log is not None:
            self._http.hooks["response"].append(self._log_call)
        self._timeout = timeout
        self._clock = clock
        self._client: Salesforce | None = None
        self._refused: set[str] = set()
        self._levels: dict[str, tuple[float, dict[str, DataLevel]]] = {}
        self._lock = threading.Lock()

    def _log_call(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """requests hook: every call to Salesforce, the token requests included, becomes a
        query-log entry (measured, never its values)."""
        if self._query_log is None:
            return
        payload: Any = None
        request = response.request
        url = request.url or response.url
        if (
            request.method == "GET"
            and "/jobs/" not in url
            and ("/query" in url or "/sobjects/" in url)
        ):
            try:
                payload = response.json()
            except ValueError:
                payload = None
        self._query_log.record(
            describe_call(
                method=str(request.method),
                url=url,
                status=response.status_code,
                body_bytes=len(response.content),
                rows=rows_in(payload, response.headers),
                latency_ms=response.elapsed.total_seconds() * 1000,
                org_id=self._org_id,
                lane=self.lane.value,
                grant_id=self.grant_id,
                body_soql=_bulk_query_of(request),
            )
        )

    @property
    def session_scope(self) -> str:
        """Whose session this is: the org's integration user, or one break-glass grant (its
        sessions end with it)."""
        org = (self._org_id or "this-client")[:15]
        if self.lane is Lane.EMERGENCY:
            return f"{org}:grant:{self.grant_id or '-'}"
        return f"{org}:integration"

    def _connect(self, stale: str | None = None) -> Salesforce:
        """A client over the scope's shared session (a fresher one when ``stale`` was refused)."""
        session = self._sessions.session(self.session_scope, stale, self._login, self._revoke)
        self._client = Salesforce(
            instance_url=session["instance_url"],
            session_id=session["access_token"],
            version=API_VERSION,
            session=self._http,
        )
        return self._client

    def _revoke(self, session: Mapping[str, str]) -> None:
        revoke_token(self._http, session["instance_url"], session["access_token"])

    def _login(self) -> dict[str, str]:
        """Log in with the first credential of the pool that is not known to be refused."""
        refused = set(self._refused)
        if self._budget is not None:
            refused |= self._budget.store.refused_credentials(self._budget.org_id)
        reasons: list[str] = []
        for candidate in self._pool.candidates(self.lane):
            if candidate.credential_id in refused:
                reasons.append(f"{candidate.credential_id}: refused earlier, not retried")
                continue
            try:
                session = oauth.request_token(candidate.credentials, self._http, self._timeout)
            except CredentialRefused as error:
                reasons.append(f"{candidate.credential_id}: {error}")
                self._refused.add(candidate.credential_id)
                if self._budget is not None:
                    self._budget.store.refuse_credential(
                        self._budget.org_id, candidate.credential_id
                    )
                continue
            return {
                "access_token": session.access_token.get_secret_value(),
                "instance_url": session.instance_url,
            }
        self._pool.refresh()  # a rotation may have replaced the refused ones
        raise UpstreamUnavailable(
            f"no usable Salesforce credential for the {self.lane} lane: " + "; ".join(reasons)
        )

    def call[T](self, operation: Callable[[Salesforce], T]) -> T:
        """Run one Salesforce operation: admitted for its lane, its slot released after, and its
        errors mapped to retryable or not (the adapters for rotation and break-glass use it too)."""
        if self._budget is None:
            return self._run(operation)
        if not self._budget.store.knows(self._budget.org_id):
            self._seed_from_limits(self._budget)
        admission = self._budget.store.admit(
            self._budget.org_id, self.lane, self.grant_id, current_context().principal
        )
        if not admission.allowed:
            raise BudgetDeferred(f"{admission.reason} ({admission.used}/{admission.limit})")
        succeeded = False
        try:
            result = self._run(operation)
            succeeded = True
            return result
        finally:
            self._budget.store.release(self._budget.org_id, admission, succeeded=succeeded)

    def end_sessions(self) -> int:
        """End this scope's sessions, minted in any process: no new one is minted, and each
        is revoked (``/services/oauth2/revoke``; an already invalid one is fine). Safe to
        repeat: the minted sessions stay listed. Returns how many were revoked."""
        self._sessions.end(self.session_scope)
        with self._lock:
            self._client = None
        minted = self._sessions.minted(self.session_scope)
        for session in minted:
            self._revoke(session)
        return len(minted)

    def _seed_from_limits(self, budget: OrgBudget) -> None:
        """First contact with an org: learn its daily limit and usage from ``/limits``."""
        daily = self._run(lambda sf: sf.limits()).get("DailyApiRequests", {})
        if "Max" in daily and "Remaining" in daily:
            budget.store.observe(
                budget.org_id, int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"])
            )

    def _run[T](self, operation: Callable[[Salesforce], T]) -> T:
        """Run ``operation``; on an expired session log in once more, then give up."""
        with self._lock:
            client = self._client or self._connect()
        for attempt in (1, 2):
            try:
                return operation(client)
            except SalesforceExpiredSession:
                if attempt == 2:
                    raise UpstreamUnavailable(
                        "Salesforce session rejected after re-login"
                    ) from None
                with self._lock:
                    client = self._connect(stale=client.session_id)
            except SalesforceResourceNotFound:
                raise RejectedInput("Salesforce record not found") from None
            except SalesforceRefusedRequest as error:
                if "REQUEST_LIMIT_EXCEEDED" in _codes(error) and self._budget is not None:
                    cooldown = self._budget.store.trip_breaker(self._budget.org_id)
                    raise BudgetDeferred(
                        f"Salesforce API limit exceeded; non-emergency lanes wait {cooldown:.0f} s"
                    ) from None
                raise UpstreamUnavailable(
                    f"Salesforce refused the request: {_codes(error)}"
                ) from None
            except SalesforceMalformedRequest as error:
                raise RejectedInput(f"Salesforce rejected the request: {_codes(error)}") from None
            except SalesforceError as error:
                raise UpstreamUnavailable(
                    f"Salesforce error {error.status}: {_codes(error)}"
                ) from None
            except requests.RequestException as error:
                raise UpstreamUnavailable(
                    f"Salesforce unreachable: {type(error).__name__}"
                ) from None
        raise AssertionError("unreachable")

    def query(self, soql: str) -> list[dict[str, Any]]:
        """The rows of one SOQL query page (callers bound it with ``LIMIT``)."""
        result = self.call(lambda sf: sf.query(soql))
        return list(result["records"])

    def get_record(self, sobject: str, record_id: str, fields: Sequence[str]) -> dict[str, Any]:
        def fetch(sf: Salesforce) -> dict[str, Any]:
            result: dict[str, Any] = sobject_api(sf, sobject).get(
                record_id, params={"fields": ",".join(fields)}, timeout=self._timeout
            )
            return result

        record = self.call(fetch)
        return {field: record.get(field) for field in fields}

    def field_levels(self, sobject: str) -> Mapping[str, DataLevel]:
        cached = self._levels.get(sobject)
        if cached and self._clock() - cached[0] < METADATA_TTL_SECONDS:
            return cached[1]
        names = schema.DATA_CLASSIFICATION_FIELDS
        soql = format_soql(schema.FIELD_LEVELS_SOQL, sobject)
        rows = self.call(lambda sf: sf.query_all(soql))["records"]
        levels = {row[names["field"]]: DataLevel.parse(row[names["level"]]) for row in rows}
        self._levels[sobject] = (self._clock(), levels)
        return levels

    def find_result(self, event_uuid: str) -> str | None:
        soql = format_soql(schema.FIND_RESULT_SOQL, event_uuid)
        records = self.call(lambda sf: sf.query(soql))["records"]
        return str(records[0]["Id"]) if records else None

    def upsert_result(self, event_uuid: str, result: AIResult) -> str:
        body = schema.ai_result_fields(result)
        path = f"{schema.AI_RESULT_EXTERNAL_ID}/{quote(event_uuid, safe='')}"
        response = self.call(
            lambda sf: sobject_api(sf, schema.AI_RESULT).upsert(path, body, raw_response=True)
        )
        if response.status_code == 201:
            return str(response.json()["id"])
        found = self.find_result(event_uuid)
        if found is None:
            raise UpstreamUnavailable("upserted result not found by its event id")
        return found


def _bulk_query_of(request: requests.PreparedRequest) -> str | None:
    """The SOQL a Bulk API 2.0 query job is created with (it travels in the body)."""
    if request.method != "POST" or not (request.url or "").rstrip("/").endswith("/jobs/query"):
        return None
    try:
        query = json.loads(request.body or b"{}").get("query")
    except (ValueError, AttributeError):
        return None
    return query if isinstance(query, str) else None


def sobject_api(sf: Salesforce, name: str) -> Any:
    """The sObject accessor for ``name`` (simple-salesforce resolves it dynamically)."""
    return getattr(sf, name)


def _codes(error: SalesforceError) -> str:
    """Error codes from a Salesforce error body (messages may echo data, codes never do)."""
    content = error.content
    if isinstance(content, list):
        return ",".join(str(item.get("errorCode")) for item in content if isinstance(item, dict))
    return "unknown"
