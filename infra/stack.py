"""The stack of one jurisdiction, composed from components (``__main__`` is the only caller
besides the tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.audit import AuditStore, AuditStoreArgs
from infra.components.network import NetworkArgs, SovereignNetwork
from infra.components.wiring import EventWiring, EventWiringArgs
from sovgw.config import GatewayConfig, Jurisdiction

OUTPUT_VPC_ID = "vpcId"
OUTPUT_AUDIT_BUCKET = "auditBucket"
OUTPUT_KMS_KEY_ARN = "kmsKeyArn"
OUTPUT_EVENT_BUSES = "eventBuses"


@dataclass(frozen=True)
class StackConfig:
    """What ``Pulumi.<jurisdiction>.yaml`` provides."""

    jurisdiction: Jurisdiction
    account_id: str
    gateway: GatewayConfig
    function_arns: Mapping[str, str]


def build_stack(config: StackConfig) -> dict[str, pulumi.Output[object]]:
    """Create the jurisdiction's resources with a provider pinned to its region and account."""
    jurisdiction = config.jurisdiction
    provider = aws.Provider(
        f"aws-{jurisdiction.id}",
        region=jurisdiction.region,
        allowed_account_ids=[config.account_id],
    )
    opts = pulumi.ResourceOptions(provider=provider)
    key = aws.kms.Key(
        f"sovgw-{jurisdiction.id}",
        description=f"sovgw {jurisdiction.id}: data, secrets and pseudonymisation mappings",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        opts=opts,
    )
    aws.kms.Alias(
        f"sovgw-{jurisdiction.id}", name=jurisdiction.kms_alias, target_key_id=key.key_id, opts=opts
    )
    network = SovereignNetwork(
        f"sovgw-{jurisdiction.id}",
        NetworkArgs(
            region=jurisdiction.region, account_id=config.account_id, flow_log_key_arn=key.arn
        ),
        opts,
    )
    audit = AuditStore(
        f"sovgw-{jurisdiction.id}-audit", AuditStoreArgs(jurisdiction.id, key.arn), opts
    )
    outputs: dict[str, pulumi.Output[object]] = {
        OUTPUT_VPC_ID: network.vpc.id,
        OUTPUT_AUDIT_BUCKET: audit.bucket.bucket,
        OUTPUT_KMS_KEY_ARN: key.arn,
    }
    if config.function_arns:
        wiring = EventWiring(
            f"sovgw-{jurisdiction.id}-events",
            EventWiringArgs(
                jurisdiction.id,
                config.gateway.orgs_of(jurisdiction.id),
                config.function_arns,
                key.arn,
            ),
            opts,
        )
        outputs[OUTPUT_EVENT_BUSES] = pulumi.Output.from_input(
            {k: b.name for k, b in wiring.buses.items()}
        )
    return outputs
