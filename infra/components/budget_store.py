"""The shared Salesforce budget store of one jurisdiction: ElastiCache Serverless for Valkey in
the private subnets, KMS-encrypted, TLS only, IAM authentication (no passwords anywhere),
reachable only from the stack's security group; plus the alarms that warn before an org
runs out of API calls.

Why Valkey and not DynamoDB: every Salesforce call needs an atomic "admit for this lane, take
a slot, count it" decision; a Lua script does that in one round trip under a millisecond, with
slots that expire by themselves. DynamoDB would need a transaction over several items per
call. Locally the same scripts run on Debian's redis-server (same protocol).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from sovgw.adapters.budget_metrics import BUDGET_METRICS_SERVICE
from sovgw.config import Jurisdiction, OrgBinding

PORT = 6379
ALARM_USED_PERCENT = 80


@dataclass(frozen=True)
class BudgetStoreArgs:
    jurisdiction: Jurisdiction
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]
    orgs: tuple[OrgBinding, ...] = ()


class BudgetStore(pulumi.ComponentResource):
    """``url``, ``user_id`` and ``connect_arns`` are what functions need to use it."""

    def __init__(
        self, name: str, args: BudgetStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovgw:budget:BudgetStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        j = args.jurisdiction.id
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="Valkey from inside the VPC only",
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": PORT,
                    "to_port": PORT,
                    "cidr_blocks": [args.vpc_cidr],
                }
            ],
            egress=[],
            opts=child,
        )
        self.user = aws.elasticache.User(
            f"{name}-functions",
            user_id=f"sovgw-{j}-functions",
            user_name=f"sovgw-{j}-functions",
            engine="valkey",
            access_string="on ~sovgw:* -@all +@read +@write +@scripting +ping",
            authentication_mode={"type": "iam"},
            opts=child,
        )
        disabled_default = aws.elasticache.User(
            f"{name}-default",
            user_id=f"sovgw-{j}-default",
            user_name="default",
            engine="valkey",
            access_string="off -@all",
            authentication_mode={"type": "no-password-required"},
            opts=child,
        )
        users = aws.elasticache.UserGroup(
            f"{name}-users",
            user_group_id=f"sovgw-{j}-budget",
            engine="valkey",
            user_ids=[disabled_default.user_id, self.user.user_id],
            opts=child,
        )
        self.cache = aws.elasticache.ServerlessCache(
            f"{name}-cache",
            name=f"sovgw-{j}-budget",
            engine="valkey",
            major_engine_version="8",
            description=f"sovgw {j}: shared Salesforce API budget, breakers, grants",
            kms_key_id=args.kms_key_arn,
            subnet_ids=list(args.subnet_ids),
            security_group_ids=[group.id],
            user_group_id=users.user_group_id,
            opts=child,
        )
        self.url = self.cache.endpoints.apply(
            lambda endpoints: f"rediss://{endpoints[0].address}:{PORT}/0" if endpoints else ""
        )
        self.connect_arns = pulumi.Output.all(self.cache.arn, self.user.arn)
        for org in args.orgs:
            for suffix, metric, threshold, period, text in (
                ("usage", "ApiUsedPercent", ALARM_USED_PERCENT, 300,
                 f"{ALARM_USED_PERCENT} % of the daily API limit used"),
                ("breaker", "BreakerOpen", 1, 60,
                 "Salesforce refused calls for the API limit"),
            ):  # fmt: skip
                aws.cloudwatch.MetricAlarm(
                    f"{name}-{org.org_id[:15]}-{suffix}",
                    alarm_description=f"{org.name}: {text}",
                    namespace="sovgw",
                    metric_name=metric,
                    # Exactly the dimensions the EMF documents carry, or the alarm never sees them.
                    dimensions={
                        "Jurisdiction": j,
                        "OrgId": org.org_id[:15],
                        "service": BUDGET_METRICS_SERVICE,
                    },
                    statistic="Maximum",
                    period=period,
                    evaluation_periods=1,
                    threshold=threshold,
                    comparison_operator="GreaterThanOrEqualToThreshold",
                    treat_missing_data="notBreaching",
                    opts=child,
                )
        self.register_outputs({"url": self.url})
