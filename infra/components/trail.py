"""CloudTrail for the jurisdiction, in-region: management events, data events for Lambda
invocations and audit-bucket objects, log-file validation (signed digests), KMS.

SageMaker ``InvokeEndpoint`` is not recorded by CloudTrail; the gateway's own audit record is
the inference trail, linked to these logs by request id (``sovgw audit trace``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class TrailArgs:
    jurisdiction: str
    region: str
    account_id: str
    kms_key_arn: pulumi.Input[str]
    audit_bucket_arn: pulumi.Input[str]
    retention_days: int = 3650


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
        child = pulumi.ResourceOptions(parent=self)
        trail_name = f"sovgw-{args.jurisdiction}"
        trail_arn = f"arn:aws:cloudtrail:{args.region}:{args.account_id}:trail/{trail_name}"
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=f"sovgw-trail-{args.jurisdiction}-{args.account_id}",
            object_lock_enabled=True,
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-lock",
            bucket=self.bucket.id,
            rule={"default_retention": {"mode": "COMPLIANCE", "days": args.retention_days}},
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse",
            bucket=self.bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": args.kms_key_arn,
                    }
                }
            ],
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-private",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "CloudTrailAclCheck",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                "Action": "s3:GetBucketAcl",
                                "Resource": arn,
                                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
                            },
                            {
                                "Sid": "CloudTrailWrite",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                "Action": "s3:PutObject",
                                "Resource": f"{arn}/AWSLogs/{args.account_id}/*",
                                "Condition": {
                                    "StringEquals": {
                                        "aws:SourceArn": trail_arn,
                                        "s3:x-amz-acl": "bucket-owner-full-control",
                                    }
                                },
                            },
                            {
                                "Sid": "DenyInsecureTransport",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            },
                        ],
                    }
                )
            ),
            opts=child,
        )
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=self.bucket.id,
            kms_key_id=args.kms_key_arn,
            is_multi_region_trail=False,
            include_global_service_events=False,
            enable_log_file_validation=True,
            advanced_event_selectors=_selectors(args.audit_bucket_arn),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.register_outputs({"trail_arn": self.trail.arn, "bucket": self.bucket.bucket})
