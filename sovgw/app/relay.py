"""An org's Event Relay seen from both ends: Salesforce (with the relay monitor credential)
and the jurisdiction's AWS account, judged by ``sovgw.domain.relay_health``."""

from __future__ import annotations

import boto3

from sovgw.adapters.aws.event_source import read_partner_bus
from sovgw.adapters.salesforce.relay_metadata import channel_name, named_credential, relay_endpoint
from sovgw.adapters.salesforce.relay_setup import read_relay_setup
from sovgw.app.bootstrap import Settings, build_dependencies, relay_monitor_records
from sovgw.config import GatewayConfig, OrgBinding
from sovgw.domain.budget import Lane
from sovgw.domain.errors import RejectedInput
from sovgw.domain.relay_health import RelayHealth, RelayObservations, judge
from sovgw.domain.relay_watch import ReplayOutcome, replay_missed, replay_record
from sovgw.wiring import HEARTBEAT_EVENT, ROUTED_SALESFORCE_EVENTS


def relay_health(config: GatewayConfig, binding: OrgBinding, settings: Settings) -> RelayHealth:
    jurisdiction = config.jurisdiction(binding.jurisdiction)
    if jurisdiction is None:
        raise RejectedInput(f"org {binding.org_id} names unknown jurisdiction")
    session = boto3.session.Session(region_name=jurisdiction.region)
    account = jurisdiction.aws_account_id or session.client("sts").get_caller_identity()["Account"]
    records = relay_monitor_records(
        session.client("secretsmanager"), settings.salesforce_ca_bundle, binding
    )
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


def replay(
    config: GatewayConfig, binding: OrgBinding, since_ms: int, settings: Settings
) -> ReplayOutcome:
    """``relay replay``: what the relay missed since ``since_ms``, read back from Salesforce and
    put on the jurisdiction's bus once; an audit record says how many and which."""
    from sovgw.adapters.salesforce.streaming import EventBusReader  # noqa: PLC0415

    deps = build_dependencies(config, binding.jurisdiction, settings)
    if deps.relay_ledger is None:
        raise RejectedInput("relay replay needs the shared store (SOVGW_BUDGET_STORE_URL)")
    outcome = replay_missed(
        binding.org_id,
        binding.event_source,
        [name for name in ROUTED_SALESFORCE_EVENTS if name != HEARTBEAT_EVENT],
        since_ms,
        ledger=deps.relay_ledger,
        bus=EventBusReader(deps.salesforce(binding.org_id, Lane.ROUTINE, None)),
        republisher=deps.publisher,
    )
    deps.audit.write(
        replay_record(
            binding.org_id, binding.jurisdiction, since_ms, outcome.read, outcome.put_back
        )
    )
    return outcome
