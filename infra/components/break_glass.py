"""What break-glass needs in AWS: the role a grant may open, the schedule group and the role
EventBridge Scheduler uses for each grant's one-time expiry, and the subscription a grant may
switch on. (The sweeper, every minute, is a schedule of the break_glass function: see
``sovgw.wiring.SCHEDULES``.)

The break-glass role has no permissions of its own. People tagged as break-glass operators may
assume it only with a fresh MFA sign-in and a session tag naming a grant; a grant attaches
permissions that apply only to sessions with its tag and only until it expires, and expiry
detaches them and ends every older session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.iam import service_role
from sovgw.config import Jurisdiction
from sovgw.wiring import (
    CASE_CHANGES_PATTERN,
    break_glass_role_name,
    break_glass_schedule_group,
    break_glass_trust_policy,
    case_changes_rule_name,
    scheduler_role_name,
)


@dataclass(frozen=True)
class BreakGlassArgs:
    jurisdiction: Jurisdiction
    account_id: str
    event_bus_name: pulumi.Input[str]
    function_arn: pulumi.Input[str]


class BreakGlassResources(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: BreakGlassArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # The type token once said "breakglass": the alias keeps existing stacks' resources.
        renamed = pulumi.ResourceOptions(
            aliases=[pulumi.Alias(type_="sovgw:breakglass:BreakGlassResources")]
        )
        super().__init__(
            "sovgw:break_glass:BreakGlassResources",
            name,
            None,
            pulumi.ResourceOptions.merge(opts, renamed),
        )
        child = pulumi.ResourceOptions(parent=self)
        j = args.jurisdiction.id
        self.role = aws.iam.Role(
            f"{name}-role",
            name=break_glass_role_name(j),
            max_session_duration=3600,  # AWS's minimum; permissions end with the grant anyway
            assume_role_policy=json.dumps(break_glass_trust_policy(args.account_id)),
            opts=child,
        )
        self.group = aws.scheduler.ScheduleGroup(
            f"{name}-schedules", name=break_glass_schedule_group(j), opts=child
        )
        scheduler_role = service_role(
            f"{name}-scheduler",
            "scheduler.amazonaws.com",
            child,
            role_name=scheduler_role_name(j),
            source_account=args.account_id,
        )
        aws.iam.RolePolicy(
            f"{name}-scheduler",
            role=scheduler_role.id,
            policy=pulumi.Output.from_input(args.function_arn).apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["lambda:InvokeFunction"],
                                "Resource": [arn],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        self.subscription = aws.cloudwatch.EventRule(
            f"{name}-case-changes",
            name=case_changes_rule_name(j),
            event_bus_name=args.event_bus_name,
            description="Case change events for an investigation; a grant switches it on",
            event_pattern=json.dumps(CASE_CHANGES_PATTERN),
            state="DISABLED",
            opts=child,
        )
        self.register_outputs({"role": self.role.arn, "group": self.group.name})
