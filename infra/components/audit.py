"""The immutable audit store: Object Lock (COMPLIANCE) bucket, versioned, KMS-encrypted,
TLS only, plus the asymmetric key that signs audit digests."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AuditStoreArgs:
    jurisdiction: str
    kms_key_arn: pulumi.Input[str]
    retention_days: int = 3650


class AuditStore(pulumi.ComponentResource):
    """Bucket ``sovgw-audit-<jurisdiction>`` and key ``alias/sovgw-<jurisdiction>-audit-digest``."""

    def __init__(
        self, name: str, args: AuditStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovgw:audit:AuditStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=f"sovgw-audit-{args.jurisdiction}",
            object_lock_enabled=True,
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
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
                    },
                    "bucket_key_enabled": True,
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
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(
                lambda arn: json.dumps(
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
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        self.digest_key = aws.kms.Key(
            f"{name}-digest-key",
            description=f"sovgw {args.jurisdiction} audit digests",
            customer_master_key_spec="ECC_NIST_P256",
            key_usage="SIGN_VERIFY",
            deletion_window_in_days=30,
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-digest-key",
            name=f"alias/sovgw-{args.jurisdiction}-audit-digest",
            target_key_id=self.digest_key.key_id,
            opts=child,
        )
        self.register_outputs({"bucket": self.bucket.bucket, "digest_key_arn": self.digest_key.arn})
