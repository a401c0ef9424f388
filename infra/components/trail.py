"""CloudTrail for the jurisdiction, in-region: management events, data events for Lambda
invocations and audit-bucket objects, log-file validation (signed digests), KMS.

SageMaker ``InvokeEndpoint`` is not recorded by CloudTrail; the gateway's own audit record is
the inference trail, linked to these logs by request id (``sovgw audit trace``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.buckets import locked_bucket
from sovgw.config import Jurisdiction
from sovgw.wiring import AUDIT_RETENTION_DAYS, break_glass_role_arn


@dataclass(frozen=True)
class TrailArgs:
    jurisdiction: Jurisdiction
    account_id: str
    kms_key_arn: pulumi.Input[str]
    audit_bucket_arn: pulumi.Input[str]
    retention_days: int = AUDIT_RETENTION_DAYS


def _selectors(
    audit_bucket_arn: pulumi.Input[str],
) -> list[aws.cloudtrail.TrailAdvancedEventSelectorArgs]:
    """Management events, Lambda invocations and the audit bucket's object-level events."""
    selector = aws.cloudtrail.TrailAdvancedEventSelectorArgs
    field = aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs
    audit_prefix = pulumi.Output.from_input(audit_bucket_arn).apply(lambda arn: f"{arn}/")
    return [
        selector(
            name="Management events",
            field_selectors=[field(field="eventCategory", equals=["Management"])],
        ),
        selector(
            name="Lambda invocations",
            field_selectors=[
                field(field="eventCategory", equals=["Data"]),
                field(field="resources.type", equals=["AWS::Lambda::Function"]),
            ],
        ),
        selector(
            name="Audit bucket objects",
            field_selectors=[
                field(field="eventCategory", equals=["Data"]),
                field(field="resources.type", equals=["AWS::S3::Object"]),
                field(field="resources.ARN", starts_withs=[audit_prefix]),
            ],
        ),
    ]


class CloudTrailLog(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: TrailArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovgw:audit:CloudTrailLog", name, None, opts)
        trail_name = f"sovgw-{args.jurisdiction.id}"
        trail_arn = (
            f"arn:aws:cloudtrail:{args.jurisdiction.region}:{args.account_id}:trail/{trail_name}"
        )

        def cloudtrail_access(arn: str) -> list[dict[str, Any]]:
            service = {"Service": "cloudtrail.amazonaws.com"}
            return [
                {
                    "Sid": "CloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": service,
                    "Action": "s3:GetBucketAcl",
                    "Resource": arn,
                    "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
                },
                {
                    "Sid": "CloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": service,
                    "Action": "s3:PutObject",
                    "Resource": f"{arn}/AWSLogs/{args.account_id}/*",
                    "Condition": {
                        "StringEquals": {
                            "aws:SourceArn": trail_arn,
                            "s3:x-amz-acl": "bucket-owner-full-control",
                        }
                    },
                },
            ]

        self.evidence = locked_bucket(
            name,
            f"sovgw-trail-{args.jurisdiction.id}-{args.account_id}",
            args.kms_key_arn,
            args.retention_days,
            parent=self,
            exempt_role_arn=break_glass_role_arn(args.account_id, args.jurisdiction.id),
            extra_statements=cloudtrail_access,
        )
        self.bucket = self.evidence.bucket
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=self.bucket.id,
            kms_key_id=args.kms_key_arn,
            is_multi_region_trail=False,
            include_global_service_events=False,
            enable_log_file_validation=True,
            advanced_event_selectors=_selectors(args.audit_bucket_arn),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.evidence.policy]),
        )
        self.register_outputs({"trail_arn": self.trail.arn, "bucket": self.bucket.bucket})
