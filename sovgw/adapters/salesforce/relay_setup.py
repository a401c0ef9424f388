"""The Salesforce side of an org's Event Relay, as the relay monitor credential reads it: the
named credential (REST query), the relay configuration (Tooling API) and its feedback row."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from simple_salesforce.format import format_soql

from sovgw.adapters.salesforce import schema
from sovgw.adapters.salesforce.records import SalesforceRecords


@dataclass(frozen=True)
class RelaySetup:
    named_credential_endpoint: str | None
    relay_name: str | None
    relay_state: str | None
    feedback_status: str | None
    feedback_code: str | None
    feedback_error: str | None
    last_relayed: str | None


def read_relay_setup(records: SalesforceRecords, credential: str, channel: str) -> RelaySetup:
    """None for anything not found; an error code, never a payload, in ``feedback_error``."""
    credentials = records.query(format_soql(schema.NAMED_CREDENTIAL_SOQL, credential))
    soql = format_soql(schema.RELAY_CONFIG_SOQL, channel)
    configs = records.call(lambda sf: sf.toolingexecute(f"query/?q={quote(soql)}"))["records"]
    config = configs[0] if configs else None
    feedback = None
    if config is not None:
        rows = records.query(format_soql(schema.RELAY_FEEDBACK_SOQL, config["Id"]))
        feedback = rows[0] if rows else None
    error = None
    if feedback is not None and feedback.get("ErrorCode"):
        error = f"{feedback['ErrorCode']} at {feedback.get('ErrorTime') or 'unknown time'}"
    return RelaySetup(
        named_credential_endpoint=credentials[0]["Endpoint"] if credentials else None,
        relay_name=config["DeveloperName"] if config else None,
        relay_state=config["State"] if config else None,
        feedback_status=feedback.get("Status") if feedback else None,
        feedback_code=feedback.get("ErrorCode") if feedback else None,
        feedback_error=error,
        last_relayed=feedback.get("LastRelayedEventTime") if feedback else None,
    )
