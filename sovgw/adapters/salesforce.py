"""Salesforce adapter: OAuth 2.0 client-credentials login and simple-salesforce calls.

Field and object names come only from code allow-lists; values are bound with
``format_soql``. Error codes are mapped to retryable or not in one place (``_call``).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, SecretStr
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.format import format_soql

from sovgw.adapters.sessions import LocalSessions
from sovgw.config import OrgBinding
from sovgw.domain.budget import Admission, BudgetDeferred, Lane
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.domain.levels import DataLevel
from sovgw.ports import SessionCache

API_VERSION = "62.0"
METADATA_TTL_SECONDS = 300.0
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class BudgetStore(Protocol):
    """The shared per-org API budget (``sovgw.adapters.valkey_budget.ValkeyBudgetStore``)."""

    def knows(self, org_id: str) -> bool: ...
    def admit(self, org_id: str, lane: Lane, grant_id: str | None = None) -> Admission: ...
    def release(self, org_id: str, admission: Admission, *, succeeded: bool = True) -> None: ...
    def observe(self, org_id: str, used: int, limit: int) -> None: ...
    def trip_breaker(self, org_id: str) -> float: ...
    def refuse_credential(self, org_id: str, credential_id: str) -> None: ...
    def refused_credentials(self, org_id: str) -> set[str]: ...


class PinnedCAAdapter(requests.adapters.HTTPAdapter):
    """Verify TLS against one CA bundle, whatever ``REQUESTS_CA_BUNDLE`` says.

    requests lets that variable override ``Session.verify``; pinning at the adapter keeps the
    trust decision in code.
    """

    def __init__(self, ca_bundle: str) -> None:
        super().__init__()
        self._ca_bundle = ca_bundle

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = self._ca_bundle
        return super().send(request, **kwargs)


def http_session(ca_bundle: str | None) -> requests.Session:
    """A requests session that trusts ``ca_bundle`` only (or the system store when None)."""
    session = requests.Session()
    if ca_bundle:
        session.mount("https://", PinnedCAAdapter(ca_bundle))
    return session


class SalesforceCredentials(BaseModel):
    """An integration credential as stored in Secrets Manager (one JSON secret per org)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    token_url: str
    client_id: str
    client_secret: SecretStr


class SalesforceSession(BaseModel):
    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    instance_url: str


def request_token(
    credentials: SalesforceCredentials, http: requests.Session, timeout: float = 10.0
) -> SalesforceSession:
    """OAuth 2.0 client-credentials flow; a refused credential is not retried here."""
    try:
        response = http.post(
            credentials.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret.get_secret_value(),
            },
            timeout=timeout,
        )
    except requests.RequestException as error:
        raise UpstreamUnavailable(
            f"Salesforce token endpoint unreachable: {type(error).__name__}"
        ) from None
    if response.status_code >= 500:
        raise UpstreamUnavailable(f"Salesforce token endpoint answered {response.status_code}")
    body = response.json() if response.content else {}
    if response.status_code != 200:
        code, description = body.get("error"), str(body.get("error_description", ""))
        if "LOGIN_RATE_EXCEEDED" in description:
            raise UpstreamUnavailable("Salesforce login rate exceeded for the integration user")
        raise CredentialRefused(f"Salesforce refused the credential: {code} ({description})")
    return SalesforceSession(access_token=body["access_token"], instance_url=body["instance_url"])


class CredentialRefused(UpstreamUnavailable):
    """The token endpoint refused this credential. It is never presented again (each failed
    login moves the user towards lockout); the pool moves on to its next credential."""


@dataclass(frozen=True)
class PooledCredential:
    """One credential of an org's pool. ``credential_id`` changes with every rotation (it
    names the secret version), so a refused old version never blocks its successor."""

    credential_id: str
    credentials: SalesforceCredentials
    emergency: bool = False


class CredentialPool:
    """An org's integration credentials (alternating) and its emergency credential.

    ``load`` returns the current credentials (from Secrets Manager in production); they are
    re-read after ``ttl_s`` so a rotation is picked up without a cold start.
    """

    def __init__(
        self,
        load: Callable[[], Sequence[PooledCredential]],
        *,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._clock = clock
        self._loaded: tuple[float, tuple[PooledCredential, ...]] | None = None
        self._turn = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def single(cls, credentials: SalesforceCredentials) -> CredentialPool:
        return cls(lambda: (PooledCredential(credentials.client_id, credentials),))

    def refresh(self) -> None:
        with self._lock:
            self._loaded = None

    def candidates(self, lane: Lane) -> list[PooledCredential]:
        """In the order to try: EMERGENCY starts with the emergency credential; the other
        lanes never see it and alternate between the integration credentials."""
        with self._lock:
            if self._loaded is None or self._clock() - self._loaded[0] > self._ttl_s:
                self._loaded = (self._clock(), tuple(self._load()))
            pool = self._loaded[1]
            turn = next(self._turn)
        integration = [c for c in pool if not c.emergency]
        if integration:
            start = turn % len(integration)
            integration = integration[start:] + integration[:start]
        if lane is Lane.EMERGENCY:
            return [c for c in pool if c.emergency] + integration
        return integration


def credential_id(secret_name: str, version_id: str) -> str:
    """The id of one version of a pool secret (as the shared store records refusals)."""
    return f"{secret_name.rsplit('/', 1)[-1]}@{version_id[:8]}"


def load_credential_pool(secrets_client: Any, org: OrgBinding) -> list[PooledCredential]:
    """The org's pool from Secrets Manager (AWSCURRENT of each secret; one that does not exist
    yet is skipped). The credential id names the secret version, so each rotation gets a
    fresh id."""
    from sovgw.adapters.aws import read_secret_version  # noqa: PLC0415 - boto only at the edge

    pool: list[PooledCredential] = []
    for name, emergency in org.credential_pool_secrets:
        found = read_secret_version(secrets_client, name)
        if found is None:
            continue
        value, version = found
        pool.append(
            PooledCredential(
                credential_id(name, version),
                SalesforceCredentials.model_validate(value),
                emergency,
            )
        )
    if not pool:
        raise RejectedInput(f"org {org.org_id} has no Salesforce credential secret")
    return pool


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
        self._timeout = timeout
        self._clock = clock
        self._client: Salesforce | None = None
        self._refused: set[str] = set()
        self._levels: dict[str, tuple[float, dict[str, DataLevel]]] = {}
        self._lock = threading.Lock()

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
                session = request_token(candidate.credentials, self._http, self._timeout)
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

    def _call[T](self, operation: Callable[[Salesforce], T]) -> T:
        """Admit the call for its lane, run it, release its slot."""
        if self._budget is None:
            return self._run(operation)
        if not self._budget.store.knows(self._budget.org_id):
            self._seed_from_limits(self._budget)
        admission = self._budget.store.admit(self._budget.org_id, self.lane, self.grant_id)
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

    def get_record(self, sobject: str, record_id: str, fields: Sequence[str]) -> dict[str, Any]:
        def fetch(sf: Salesforce) -> dict[str, Any]:
            result: dict[str, Any] = _sobject(sf, sobject).get(
                record_id, params={"fields": ",".join(fields)}, timeout=self._timeout
            )
            return result

        record = self._call(fetch)
        return {field: record.get(field) for field in fields}

    def field_levels(self, sobject: str) -> Mapping[str, DataLevel]:
        cached = self._levels.get(sobject)
        if cached and self._clock() - cached[0] < METADATA_TTL_SECONDS:
            return cached[1]
        soql = format_soql(
            "SELECT Field__c, Level__c FROM Data_Classification__mdt WHERE Object__c = {}", sobject
        )
        rows = self._call(lambda sf: sf.query_all(soql))["records"]
        levels = {row["Field__c"]: DataLevel.parse(row["Level__c"]) for row in rows}
        self._levels[sobject] = (self._clock(), levels)
        return levels

    def find_result(self, event_uuid: str) -> str | None:
        soql = format_soql(
            "SELECT Id FROM AI_Result__c WHERE Request_Event_Id__c = {} LIMIT 1", event_uuid
        )
        records = self._call(lambda sf: sf.query(soql))["records"]
        return str(records[0]["Id"]) if records else None

    def upsert_result(self, event_uuid: str, fields: Mapping[str, Any]) -> str:
        body = {k: v for k, v in fields.items() if k != "Request_Event_Id__c"}
        path = f"Request_Event_Id__c/{quote(event_uuid, safe='')}"
        response = self._call(
            lambda sf: _sobject(sf, "AI_Result__c").upsert(path, body, raw_response=True)
        )
        if response.status_code == 201:
            return str(response.json()["id"])
        found = self.find_result(event_uuid)
        if found is None:
            raise UpstreamUnavailable("upserted result not found by its event id")
        return found


def _sobject(sf: Salesforce, name: str) -> Any:
    """The sObject accessor for ``name`` (simple-salesforce resolves it dynamically)."""
    return getattr(sf, name)


def _codes(error: SalesforceError) -> str:
    """Error codes from a Salesforce error body (messages may echo data, codes never do)."""
    content = error.content
    if isinstance(content, list):
        return ",".join(str(item.get("errorCode")) for item in content if isinstance(item, dict))
    return "unknown"


STAGED_CREDENTIALS_VERSION = "65.0"


class SalesforceConsumerSecrets:
    """``ConsumerSecrets`` through the OAuth staged credentials Connect REST API, called with
    another credential of the org's pool (never the one being rotated)."""

    def __init__(self, admin: SalesforceRecords, *, ca_bundle: str | None = None) -> None:
        self._admin = admin
        self._http = http_session(ca_bundle)

    def _request(self, method: str, client_id: str, suffix: str = "") -> dict[str, Any]:
        def call(sf: Salesforce) -> Any:
            staged = Salesforce(
                instance_url=f"https://{sf.sf_instance}",
                session_id=sf.session_id,
                version=STAGED_CREDENTIALS_VERSION,
                session=sf.session,
            )
            return staged.restful(
                f"apps/oauth/credentials/{quote(client_id, safe='')}/staged{suffix}",
                method=method,
            )

        result = self._admin._call(call)
        return result if isinstance(result, dict) else {}

    def stage(self, client_id: str) -> str:
        return str(self._request("POST", client_id)["consumerSecret"])

    def discard(self, client_id: str) -> None:
        with contextlib.suppress(RejectedInput):  # nothing staged
            self._request("DELETE", client_id)

    def rotate_in(self, client_id: str) -> None:
        with contextlib.suppress(RejectedInput):  # rotated in by an earlier try of this step
            self._request("POST", client_id, "/rotate")

    def login_works(self, value: Mapping[str, Any]) -> bool:
        """Log in with ``value``, and revoke that session at once: a check leaves none open."""
        try:
            session = request_token(SalesforceCredentials.model_validate(value), self._http)
        except CredentialRefused:
            return False
        revoke_token(self._http, session.instance_url, session.access_token.get_secret_value())
        return True


class SalesforceBreakGlass:
    """``SalesforceAccess`` for break-glass grants, over the EMERGENCY lane."""

    APPROVER_PERMISSION_SET = "Break_Glass_Approver"

    def __init__(self, records: SalesforceRecords) -> None:
        self._records = records

    def _query(self, soql: str) -> list[dict[str, Any]]:
        result = self._records._call(lambda sf: sf.query(soql))
        return list(result["records"])

    def user_exists(self, user_id: str) -> bool:
        return bool(self._query(format_soql("SELECT Id FROM User WHERE Id = {}", user_id)))

    def permission_set_id(self, name: str) -> str | None:
        rows = self._query(format_soql("SELECT Id FROM PermissionSet WHERE Name = {}", name))
        return str(rows[0]["Id"]) if rows else None

    def is_approver(self, user_id: str) -> bool:
        role = self.permission_set_id(self.APPROVER_PERMISSION_SET)
        if role is None:
            return False
        rows = self._query(
            format_soql(
                "SELECT Id, ExpirationDate FROM PermissionSetAssignment "
                "WHERE AssigneeId = {} AND PermissionSetId = {}",
                user_id,
                role,
            )
        )
        now = time.time()
        return any(
            not row.get("ExpirationDate") or _epoch(row["ExpirationDate"]) > now for row in rows
        )

    def find_assignment(
        self, user_id: str, permission_set_id: str, expires_at_ms: int
    ) -> str | None:
        """The assignment an earlier try of this grant made (same user, set and expiry), so a
        retried step never assigns twice; someone's standing assignment is never taken."""
        rows = self._query(
            format_soql(
                "SELECT Id, ExpirationDate FROM PermissionSetAssignment "
                "WHERE AssigneeId = {} AND PermissionSetId = {}",
                user_id,
                permission_set_id,
            )
        )
        for row in rows:
            expires = row.get("ExpirationDate")
            if expires and int(_epoch(expires)) == expires_at_ms // 1000:
                return str(row["Id"])
        return None

    def assign(self, user_id: str, permission_set_id: str, expires_at_ms: int) -> str:
        body = {
            "AssigneeId": user_id,
            "PermissionSetId": permission_set_id,
            "ExpirationDate": _salesforce_datetime(expires_at_ms),
        }
        created = self._records._call(
            lambda sf: _sobject(sf, "PermissionSetAssignment").create(body)
        )
        return str(created["id"])

    def unassign(self, assignment_id: str) -> None:
        with contextlib.suppress(RejectedInput):  # gone already (removed earlier, or expired)
            self._records._call(
                lambda sf: _sobject(sf, "PermissionSetAssignment").delete(assignment_id)
            )

    def end_sessions(self) -> int:
        return self._records.end_sessions()

    def upsert_grant_record(self, request_id: str, fields: Mapping[str, Any]) -> None:
        body = dict(fields)
        if body.get("Expires_At__c") is not None:
            body["Expires_At__c"] = _salesforce_datetime(int(body["Expires_At__c"]))
        path = f"Request_Id__c/{quote(request_id, safe='')}"
        self._records._call(lambda sf: _sobject(sf, "Break_Glass_Grant__c").upsert(path, body))


def _salesforce_datetime(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(epoch_ms / 1000))


def revoke_token(http: requests.Session, instance_url: str, token: str) -> None:
    """``POST /services/oauth2/revoke``: 200, or 400 for a token already invalid; 5xx retries."""
    try:
        response = http.post(
            f"{instance_url}/services/oauth2/revoke", data={"token": token}, timeout=10
        )
    except requests.RequestException as error:
        raise UpstreamUnavailable(f"token revocation failed: {type(error).__name__}") from None
    if response.status_code >= 500:
        raise UpstreamUnavailable(f"token revocation failed: {response.status_code}")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("+0000", "+00:00").replace("Z", "+00:00")).timestamp()
