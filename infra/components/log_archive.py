"""A copy of the evidence in a separate log-archive account of the same region, the pattern AWS
recommends for CloudTrail: an administrator of the gateway account who hides or (with a lapsed
lock) destroys evidence there cannot reach the copy.

S3 Replication copies every new version of the digests, manifests and records of the audit
bucket, and the CloudTrail log files, to one Object Lock (COMPLIANCE) bucket the archive
account owns (replica ownership goes to it), encrypted with the archive account's own key.
Delete markers are not replicated, and S3 never replicates a version delete, so hiding an
object in the gateway account leaves the copy visible.

The archive side is created through a provider that assumes a deployment role in the archive
account, pinned to that account and the jurisdiction's region.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.buckets import EvidenceBucket, locked_bucket
from infra.components.iam import service_role
from infra.components.key_policy import ADMINISTER
from sovgw.config import Jurisdiction
from sovgw.wiring import AUDIT_RETENTION_DAYS

AUDIT_PREFIXES = ("digests/", "manifests/", "records/")
TRAIL_PREFIXES = ("AWSLogs/",)


def replication_role_name(jurisdiction_id: str) -> str:
    return f"sovgw-{jurisdiction_id}-evidence-replication"


def archive_bucket_name(jurisdiction_id: str, archive_account_id: str) -> str:
    return f"sovgw-log-archive-{jurisdiction_id}-{archive_account_id}"


@dataclass(frozen=True)
class LogArchiveArgs:
    jurisdiction: Jurisdiction
    account_id: str  # the gateway's
    archive_account_id: str
    deploy_role_arn: str  # assumed in the archive account to create its side
    source_kms_key_arn: pulumi.Input[str]
    retention_days: int = AUDIT_RETENTION_DAYS


class LogArchive(pulumi.ComponentResource):
    """The archive account's key and bucket, and the gateway account's replication role;
    ``replicate`` adds one evidence bucket's replication to it."""

    def __init__(
        self, name: str, args: LogArchiveArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovgw:audit:LogArchive", name, None, opts)
        self._name = name
        self._args = args
        jurisdiction = args.jurisdiction
        self.role_arn = (
            f"arn:aws:iam::{args.account_id}:role/{replication_role_name(jurisdiction.id)}"
        )
        self.archive_provider = aws.Provider(
            f"aws-{jurisdiction.id}-log-archive",
            region=jurisdiction.region,
            allowed_account_ids=[args.archive_account_id],
            assume_roles=[
                aws.ProviderAssumeRoleArgs(
                    role_arn=args.deploy_role_arn, session_name="sovgw-log-archive"
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        archive = pulumi.ResourceOptions(parent=self, provider=self.archive_provider)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"sovgw {jurisdiction.id}: log archive (replicated evidence)",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(self._key_policy()),
            opts=archive,
        )
        self._bucket_name = archive_bucket_name(jurisdiction.id, args.archive_account_id)
        self.evidence: EvidenceBucket = locked_bucket(
            f"{name}-archive",
            self._bucket_name,
            self.key.arn,
            args.retention_days,
            parent=self,
            exempt_role_arn=(
                f"arn:aws:iam::{args.archive_account_id}:role/sovgw-{jurisdiction.id}-"
                "log-archive-break-glass"
            ),
            extra_statements=self._replication_access,
            provider=self.archive_provider,
        )
        self.role = service_role(
            f"{name}-replication",
            "s3.amazonaws.com",
            pulumi.ResourceOptions(parent=self),
            role_name=replication_role_name(jurisdiction.id),
            source_account=args.account_id,
        )
        self.register_outputs(
            {"bucket": self.evidence.bucket.bucket, "replication_role": self.role.arn}
        )

    def _key_policy(self) -> dict[str, Any]:
        """The archive account administers the key and decrypts through S3 (its auditors
        read); the gateway's replication role only encrypts replicas."""
        archive_root = f"arn:aws:iam::{self._args.archive_account_id}:root"
        via_s3 = {"kms:ViaService": f"s3.{self._args.jurisdiction.region}.amazonaws.com"}
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ArchiveAccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": archive_root},
                    "Action": ADMINISTER,
                    "Resource": "*",
                },
                {
                    "Sid": "ArchiveAccountReadsThroughS3",
                    "Effect": "Allow",
                    "Principal": {"AWS": archive_root},
                    "Action": ["kms:Decrypt", "kms:DescribeKey"],
                    "Resource": "*",
                    "Condition": {"StringEquals": via_s3},
                },
                {
                    "Sid": "GatewayReplicationEncryptsReplicas",
                    "Effect": "Allow",
                    "Principal": {"AWS": self.role_arn},
                    "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                    "Condition": {"StringEquals": via_s3},
                },
            ],
        }

    def _replication_access(self, arn: str) -> list[dict[str, Any]]:
        """The archive bucket lets the gateway's replication role write replicas, and nothing
        else: no delete (replicated delete markers are off anyway), no policy change."""
        role = {"AWS": self.role_arn}
        return [
            {
                "Sid": "GatewayReplicatesObjects",
                "Effect": "Allow",
                "Principal": role,
                "Action": [
                    "s3:ReplicateObject",
                    "s3:ReplicateTags",
                    "s3:ObjectOwnerOverrideToBucketOwner",
                ],
                "Resource": f"{arn}/*",
            },
            {
                "Sid": "GatewayChecksVersioning",
                "Effect": "Allow",
                "Principal": role,
                "Action": ["s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"],
                "Resource": arn,
            },
        ]

    def replicate(
        self, name: str, source: EvidenceBucket, prefixes: Sequence[str]
    ) -> aws.s3.BucketReplicationConfig:
        """Replicate every new version under ``prefixes`` of ``source`` (in the gateway account)
        to the archive bucket."""
        gateway = pulumi.ResourceOptions(parent=self)
        archive_bucket = self.evidence.bucket
        aws.iam.RolePolicy(
            f"{name}-replication-read",
            role=self.role.id,
            policy=pulumi.Output.all(
                source.bucket.arn, archive_bucket.arn, self._args.source_kms_key_arn, self.key.arn
            ).apply(lambda v: json.dumps(_role_policy(v, self._args.jurisdiction.region))),
            opts=gateway,
        )
        return aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=source.bucket.id,
            role=self.role_arn,
            rules=[
                {
                    "id": f"evidence-{prefix.rstrip('/').lower()}",
                    "status": "Enabled",
                    "priority": priority,
                    "filter": {"prefix": prefix},
                    "delete_marker_replication": {"status": "Disabled"},
                    "source_selection_criteria": {
                        "sse_kms_encrypted_objects": {"status": "Enabled"}
                    },
                    "destination": {
                        # Known at preview, so the policy pack can check it before `up`.
                        "bucket": f"arn:aws:s3:::{self._bucket_name}",
                        "account": self._args.archive_account_id,
                        "access_control_translation": {"owner": "Destination"},
                        "encryption_configuration": {"replica_kms_key_id": self.key.arn},
                        "metrics": {"status": "Enabled", "event_threshold": {"minutes": 15}},
                    },
                }
                for priority, prefix in enumerate(prefixes, start=1)
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[source.versioning, self.evidence.versioning, self.evidence.policy],
            ),
        )


def _role_policy(arns: Sequence[str], region: str) -> dict[str, Any]:
    """What S3 needs to replicate locked, SSE-KMS objects across accounts (AWS's documented
    permissions for replication, Object Lock and SSE-KMS), on these two buckets only.
    ``arns``: source bucket, archive bucket, source key, archive key."""
    source_arn, archive_arn, source_key, archive_key = arns
    via_s3 = {"kms:ViaService": f"s3.{region}.amazonaws.com"}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": source_arn,
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging",
                    "s3:GetObjectRetention",
                    "s3:GetObjectLegalHold",
                ],
                "Resource": f"{source_arn}/*",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:ReplicateObject",
                    "s3:ReplicateTags",
                    "s3:ObjectOwnerOverrideToBucketOwner",
                ],
                "Resource": f"{archive_arn}/*",
            },
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": source_key,
                "Condition": {"StringEquals": via_s3},
            },
            {
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": archive_key,
                "Condition": {"StringEquals": via_s3},
            },
        ],
    }
