"""The immutable audit store: Object Lock (COMPLIANCE) bucket, versioned, KMS-encrypted,
TLS only, plus the asymmetric key that signs audit digests."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.buckets import locked_bucket
from sovgw.config import Jurisdiction
from sovgw.wiring import AUDIT_RETENTION_DAYS, break_glass_role_arn


@dataclass(frozen=True)
class AuditStoreArgs:
    jurisdiction: Jurisdiction
    account_id: str
    kms_key_arn: pulumi.Input[str]
    retention_days: int = AUDIT_RETENTION_DAYS


class AuditStore(pulumi.ComponentResource):
    """Bucket ``sovgw-audit-<jurisdiction>`` and key ``alias/sovgw-<jurisdiction>-audit-digest``."""

    def __init__(
        self, name: str, args: AuditStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovgw:audit:AuditStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.evidence = locked_bucket(
            name,
            f"sovgw-audit-{args.jurisdiction.id}",
            args.kms_key_arn,
            args.retention_days,
            parent=self,
            exempt_role_arn=break_glass_role_arn(args.account_id, args.jurisdiction.id),
        )
        self.bucket = self.evidence.bucket
        self.digest_key = aws.kms.Key(
            f"{name}-digest-key",
            description=f"sovgw {args.jurisdiction.id} audit digests",
            customer_master_key_spec="ECC_NIST_P256",
            key_usage="SIGN_VERIFY",
            deletion_window_in_days=30,
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-digest-key",
            name=f"alias/sovgw-{args.jurisdiction.id}-audit-digest",
            target_key_id=self.digest_key.key_id,
            opts=child,
        )
        self.register_outputs({"bucket": self.bucket.bucket, "digest_key_arn": self.digest_key.arn})
