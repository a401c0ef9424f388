"""``AwsAccess``: what a break-glass grant opens and closes in AWS (role policies and STS
sessions, the case-change subscription, the one-time expiry schedule)."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import ClientError

from sovgw.adapters.aws.errors import (
    aws_errors,
    error_code,
    unless_absent,
)
from sovgw.domain.errors import UpstreamUnavailable
from sovgw.wiring import break_glass_schedule_group, function_name, scheduler_role_name


class AwsBreakGlass:
    """``AwsAccess`` for break-glass grants in one jurisdiction's account and region."""

    def __init__(
        self,
        session: Any,
        jurisdiction: str,
        event_bus: str,
        *,
        account_id: str | None = None,
    ) -> None:
        self._sts = session.client("sts")
        self._iam = session.client("iam")
        self._events = session.client("events")
        self._scheduler = session.client("scheduler")
        self._region = session.region_name
        self._jurisdiction = jurisdiction
        self._bus = event_bus
        self._account = account_id

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = str(self._sts.get_caller_identity()["Account"])
        return self._account

    @property
    def schedule_group(self) -> str:
        return break_glass_schedule_group(self._jurisdiction)

    def _schedule_name(self, org_id: str, request_id: str) -> str:
        return f"bg-{org_id[:15]}-{request_id}"[:64]

    def open_role(self, role: str, grant_id: str, expires_at_ms: int) -> str:
        """Attach the grant's permissions to the break-glass role: only sessions tagged with
        this grant (``aws sts assume-role --tags Key=sovgw-grant,Value=<id>``, with MFA, as
        the role's trust policy demands) get them, and only until the expiry."""
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at_ms / 1000))
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "GrantScopedInvestigation",
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObject",
                        "s3:ListBucket",
                        "logs:FilterLogEvents",
                        "logs:GetLogEvents",
                        "cloudtrail:LookupEvents",
                    ],
                    "Resource": [
                        f"arn:aws:s3:::sovgw-audit-{self._jurisdiction}",
                        f"arn:aws:s3:::sovgw-audit-{self._jurisdiction}/*",
                        f"arn:aws:logs:{self._region}:{self.account}:log-group:"
                        f"/aws/lambda/sovgw-{self._jurisdiction}-*",
                        "*",
                    ],
                    "Condition": {
                        "StringEquals": {"aws:PrincipalTag/sovgw-grant": grant_id},
                        "DateLessThan": {"aws:CurrentTime": expires},
                    },
                },
                {
                    "Sid": "ReadTheEncryptedAuditRecords",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": ["*"],
                    "Condition": {
                        "StringEquals": {
                            "aws:PrincipalTag/sovgw-grant": grant_id,
                            "kms:ViaService": f"s3.{self._region}.amazonaws.com",
                        },
                        "DateLessThan": {"aws:CurrentTime": expires},
                    },
                },
            ],
        }
        name = f"sovgw-grant-{grant_id}"[:128]
        with aws_errors("iam"):
            self._iam.put_role_policy(
                RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document)
            )
        return f"arn:aws:iam::{self.account}:role/{role} ({name})"

    def close_role(self, role: str, grant_id: str, issued_before_ms: int) -> None:
        """Detach the grant's permissions and end older sessions (AWS's documented way:
        deny every token issued before now). A role that does not exist has nothing open;
        any other refusal (access denied) fails the step, so it is retried, never skipped."""
        with unless_absent("iam"):  # detached already by an earlier run of this step
            self._iam.delete_role_policy(RoleName=role, PolicyName=f"sovgw-grant-{grant_id}"[:128])
        issued_before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued_before_ms / 1000))
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before}},
                }
            ],
        }
        with unless_absent("iam"):
            self._iam.put_role_policy(
                RoleName=role,
                PolicyName="sovgw-revoke-older-sessions",
                PolicyDocument=json.dumps(document),
            )

    def enable_subscription(self, rule: str) -> None:
        with aws_errors("events"):
            self._events.enable_rule(Name=rule, EventBusName=self._bus)

    def disable_subscription(self, rule: str) -> None:
        with aws_errors("events"):
            self._events.disable_rule(Name=rule, EventBusName=self._bus)

    def schedule_expiry(self, org_id: str, request_id: str, at_ms: int) -> None:
        """A one-time schedule that invokes the break-glass function at expiry."""
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_ms / 1000))
        with aws_errors("scheduler"):
            self._scheduler.create_schedule(
                Name=self._schedule_name(org_id, request_id),
                GroupName=self.schedule_group,
                ScheduleExpression=f"at({at})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": f"arn:aws:lambda:{self._region}:{self.account}:function:"
                    + function_name(self._jurisdiction, "break_glass"),
                    "RoleArn": f"arn:aws:iam::{self.account}:role/"
                    + scheduler_role_name(self._jurisdiction),
                    "Input": json.dumps(
                        {"action": "expire", "org_id": org_id, "request_id": request_id}
                    ),
                },
            )

    def cancel_schedule(self, org_id: str, request_id: str) -> None:
        try:
            self._scheduler.delete_schedule(
                Name=self._schedule_name(org_id, request_id), GroupName=self.schedule_group
            )
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise UpstreamUnavailable(f"scheduler failed: {error_code(error)}") from None
