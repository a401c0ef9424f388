"""``ConsumerSecrets``: Salesforce's OAuth staged credentials (Connect REST API), the rotation
port's Salesforce side."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from simple_salesforce.api import Salesforce

from sovgw.adapters.salesforce.oauth import (
    CredentialRefused,
    SalesforceCredentials,
    http_session,
    request_token,
    revoke_token,
)
from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.domain.errors import RejectedInput

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

        result = self._admin.call(call)
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
