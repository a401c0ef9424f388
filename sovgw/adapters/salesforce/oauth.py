"""OAuth 2.0 client-credentials logins and token revocation against a Salesforce org, over an
HTTP session that trusts exactly one CA bundle when given one."""

from __future__ import annotations

from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, SecretStr

from sovgw.domain.errors import UpstreamUnavailable


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
    """An integration credential as stored in Secrets Manager (one JSON secret per org). A
    malformed one is refused without quoting it: pydantic's message would hold the input."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    token_url: str
    client_id: str
    client_secret: SecretStr


class SalesforceSession(BaseModel):
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    access_token: SecretStr
    instance_url: str
    # The token response's identity URL (``.../id/<org id>/<user id>``) and granted scopes:
    # who a credential acts as, and with what, as Salesforce says (the access review).
    identity_url: str | None = None
    scope: str | None = None

    @property
    def user_id(self) -> str | None:
        return self.identity_url.rstrip("/").rsplit("/", 1)[-1] if self.identity_url else None


class CredentialRefused(UpstreamUnavailable):
    """The token endpoint refused this credential. It is never presented again (each failed
    login moves the user towards lockout); the pool moves on to its next credential."""


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
    return SalesforceSession(
        access_token=body["access_token"],
        instance_url=body["instance_url"],
        identity_url=body.get("id"),
        scope=body.get("scope"),
    )


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
