"""The one way this stack makes an evidence bucket: Object Lock (COMPLIANCE), versioned,
SSE-KMS, never public, TLS only, and no principal but the break-glass role may delete (which
under Object Lock means: set a delete marker) or change what protects the evidence. Used by
the audit store and the CloudTrail log."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from sovgw.wiring import evidence_tamper_deny


@dataclass(frozen=True)
class EvidenceBucket:
    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy
    versioning: aws.s3.BucketVersioning


def private_and_encrypted(
    name: str, bucket: aws.s3.Bucket, kms_key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> None:
    """SSE-KMS with the jurisdiction's key by default (bucket keys on), and never public."""
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-sse",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": kms_key_arn,
                },
                "bucket_key_enabled": True,
            }
        ],
        opts=opts,
    )
    aws.s3.BucketPublicAccessBlock(
        f"{name}-private",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )


def locked_bucket(
    name: str,
    bucket_name: str,
    kms_key_arn: pulumi.Input[str],
    retention_days: int,
    *,
    parent: pulumi.Resource,
    exempt_role_arn: pulumi.Input[str],
    extra_statements: Callable[[str], list[dict[str, Any]]] = lambda _: [],
    provider: pulumi.ProviderResource | None = None,
) -> EvidenceBucket:
    """Create the bucket and its settings; ``extra_statements(arn)`` adds policy statements
    (for example the CloudTrail service's write access) next to the TLS-only and tamper denies
    (``exempt_role_arn``: the only principal that may delete or change protection);
    ``provider``: another account's (the log archive's)."""
    child = pulumi.ResourceOptions(parent=parent, provider=provider)
    bucket = aws.s3.Bucket(
        f"{name}-bucket",
        bucket=bucket_name,
        object_lock_enabled=True,
        force_destroy=False,
        opts=pulumi.ResourceOptions(parent=parent, protect=True, provider=provider),
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=child,
    )
    aws.s3.BucketObjectLockConfiguration(
        f"{name}-lock",
        bucket=bucket.id,
        rule={"default_retention": {"mode": "COMPLIANCE", "days": retention_days}},
        opts=child,
    )
    private_and_encrypted(name, bucket, kms_key_arn, child)

    def document(arn: str, exempt: str) -> str:
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn, f"{arn}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                    evidence_tamper_deny(arn, exempt),
                    *extra_statements(arn),
                ],
            }
        )

    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=pulumi.Output.all(bucket.arn, exempt_role_arn).apply(lambda v: document(*v)),
        opts=child,
    )
    return EvidenceBucket(bucket, policy, versioning)
