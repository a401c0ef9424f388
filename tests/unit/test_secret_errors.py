"""A malformed secret is refused without being quoted: pydantic's validation message holds
the input it refused, and that message reaches logs and dead letters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from sovgw.adapters.salesforce.credentials import load_credential_pool
from sovgw.config import OrgBinding
from sovgw.domain.canaries import CanarySet

SECRET = "3MVG9-the-client-secret-0123456789"
ORG = OrgBinding(
    org_id="00D5E0000000001UAA",
    name="x",
    jurisdiction="eu-de",
    relay_channel_id="0YL5E0000000001WAA",
)


class OneSecret:
    """Secrets Manager's ``get_secret_value`` holding one value for every name."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self, **request: Any) -> dict[str, str]:
        return {"SecretString": self.value, "VersionId": "v1"}


@pytest.mark.parametrize(
    "stored",
    [
        json.dumps(SECRET),  # the secret alone, not the JSON object the pool expects
        json.dumps({"token_url": 7, "client_id": "cid", "client_secret": [SECRET]}),
    ],
)
def test_a_malformed_credential_is_refused_without_quoting_it(stored: str) -> None:
    with pytest.raises(ValidationError) as refused:
        load_credential_pool(OneSecret(stored), ORG)
    assert SECRET not in str(refused.value)
    assert "for SalesforceCredentials" in str(refused.value)


def test_a_malformed_canary_set_is_refused_without_quoting_it() -> None:
    stored = {"org_id": "00D", "planted_at": "2026-01-01T00:00:00Z", "canaries": [SECRET]}
    with pytest.raises(ValidationError) as refused:
        CanarySet.model_validate_json(json.dumps(stored))
    assert SECRET not in str(refused.value) and "canaries.0" in str(refused.value)
