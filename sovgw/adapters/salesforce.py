"""Salesforce adapter: OAuth 2.0 client-credentials login and simple-salesforce calls.

Field and object names come only from code allow-lists; values are bound with
``format_soql``. Error codes are mapped to retryable or not in one place (``_call``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
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

from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.domain.levels import DataLevel

API_VERSION = "62.0"
METADATA_TTL_SECONDS = 300.0


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
        raise UpstreamUnavailable(
            "Salesforce refused the credential: "
            f"{body.get('error')} ({body.get('error_description')})"
        )
    return SalesforceSession(access_token=body["access_token"], instance_url=body["instance_url"])


class SalesforceRecords:
    """``CrmRecords`` for one org over the REST API."""

    def __init__(
        self,
        credentials: SalesforceCredentials,
        *,
        ca_bundle: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._http = http_session(ca_bundle)
        self._timeout = timeout
        self._clock = clock
        self._client: Salesforce | None = None
        self._levels: dict[str, tuple[float, dict[str, DataLevel]]] = {}

    def _connect(self) -> Salesforce:
        session = request_token(self._credentials, self._http, self._timeout)
        self._client = Salesforce(
            instance_url=session.instance_url,
            session_id=session.access_token.get_secret_value(),
            version=API_VERSION,
            session=self._http,
        )
        return self._client

    def _call[T](self, operation: Callable[[Salesforce], T]) -> T:
        """Run ``operation``; on an expired session log in once more, then give up."""
        client = self._client or self._connect()
        for attempt in (1, 2):
            try:
                return operation(client)
            except SalesforceExpiredSession:
                if attempt == 2:
                    raise UpstreamUnavailable(
                        "Salesforce session rejected after re-login"
                    ) from None
                client = self._connect()
            except SalesforceResourceNotFound:
                raise RejectedInput("Salesforce record not found") from None
            except SalesforceRefusedRequest as error:
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
