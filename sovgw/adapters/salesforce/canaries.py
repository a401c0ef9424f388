"""The canary record in Salesforce, created with an administrator's own session (the
gateway's integration users cannot create cases, by design)."""

from __future__ import annotations

from simple_salesforce.api import Salesforce

from sovgw.adapters.salesforce.oauth import http_session
from sovgw.adapters.salesforce.records import API_VERSION, sobject_api


def create_canary_case(
    instance_url: str, admin_token: str, values: dict[str, str], ca_bundle: str | None = None
) -> str:
    salesforce = Salesforce(
        instance_url=instance_url,
        session_id=admin_token,
        version=API_VERSION,
        session=http_session(ca_bundle),
    )
    created = sobject_api(salesforce, "Case").create(
        {
            "Subject": f"Rückfrage Kundenkonto {values['reference']}",
            "Description": (
                f"Der Kunde bittet um Rückruf unter {values['phone']} oder an "
                f"{values['email']}; Erstattung auf {values['iban']}."
            ),
            "Status": "New",
        }
    )
    return str(created["id"])
