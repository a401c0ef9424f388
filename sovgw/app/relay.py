"""An org's Event Relay seen from both ends: Salesforce (with the relay monitor credential)
and the jurisdiction's AWS account, judged by ``sovgw.domain.relay_health``."""

from __future__ import annotations

import boto3

from sovgw.adapters.aws.event_source import read_partner_bus
from sovgw.adapters.aws.secrets import read_secret_version
from sovgw.adapters.salesforce.oauth import SalesforceCredentials
from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.adapters.salesforce.relay_metadata import channel_name, named_credential, relay_endpoint
from sovgw.adapters.salesforce.relay_setup import read_relay_setup
from sovgw.app.bootstrap import Settings
from sovgw.config import GatewayConfig, OrgBinding
from sovgw.domain.errors import RejectedInput
from sovgw.domain.relay_health import RelayHealth, RelayObservations, judge


def monitor_records(
    binding: OrgBinding, secrets_client: object, settings: Settings
) -> SalesforceRecords:
    """Salesforce as the org's relay monitor user (View Setup, nothing else)."""
    found = read_secret_version(secrets_client, binding.relay_monitor_secret)
    if found is None:
        raise RejectedInput(
            f"no relay monitor credential: create secret {binding.relay_monitor_secret} for a "
            "user with the Sovgw_Relay_Monitor permission set"
        )
    credentials = SalesforceCredentials.model_validate(found[0])
    return SalesforceRecords(credentials, ca_bundle=settings.salesforce_ca_bundle)


def relay_health(config: GatewayConfig, binding: OrgBinding, settings: Settings) -> RelayHealth:
    jurisdiction = config.jurisdiction(binding.jurisdiction)
    if jurisdiction is None:
        raise RejectedInput(f"org {binding.org_id} names unknown jurisdiction")
    session = boto3.session.Session(region_name=jurisdiction.region)
    account = jurisdiction.aws_account_id or session.client("sts").get_caller_identity()["Account"]
    records = monitor_records(binding, session.client("secretsmanager"), settings)
    setup = read_relay_setup(records, named_credential(jurisdiction), channel_name(jurisdiction))
    bus = read_partner_bus(session.client("events"), binding.event_source)
    return judge(
        RelayObservations(
            org_id=binding.org_id,
            jurisdiction=jurisdiction.id,
            expected_credential=named_credential(jurisdiction),
            expected_endpoint=relay_endpoint(jurisdiction, account),
            expected_channel=channel_name(jurisdiction),
            event_source=binding.event_source,
            named_credential_endpoint=setup.named_credential_endpoint,
            relay_state=setup.relay_state,
            relay_name=setup.relay_name,
            feedback_status=setup.feedback_status,
            feedback_error=setup.feedback_error,
            last_relayed=setup.last_relayed,
            event_source_state=bus.source_state,
            event_source_checkable=bus.source_checkable,
            bus_exists=bus.bus_exists,
            bus_rules=bus.bus_rules,
        )
    )
