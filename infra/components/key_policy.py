"""The jurisdiction key's policy: the account administers the key but cannot use it; only the
stack's own roles encrypt and decrypt; AWS services use it only on this account's resources.

Attached after the roles exist (``aws.kms.KeyPolicy``), since the roles' own policies name
the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

USE = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
]
ADMINISTER = [
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:UpdateAlias",
    "kms:DescribeKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyRotationStatus",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:UpdateKeyDescription",
]
# Services that encrypt this jurisdiction's data with the key on behalf of the stack's roles.
VIA_SERVICES = ("secretsmanager", "s3", "sqs", "elasticache", "sagemaker", "lambda")
LOGS_CONTEXT = "kms:EncryptionContext:aws:logs:arn"


def jurisdiction_key_policy(
    account_id: str, region: str, role_arns: Sequence[str], trail_arn: str
) -> dict[str, Any]:
    root = f"arn:aws:iam::{account_id}:root"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersButDoesNotUse",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": ADMINISTER,
                "Resource": "*",
            },
            *(
                [
                    {
                        "Sid": "StackRolesUseTheKey",
                        "Effect": "Allow",
                        "Principal": {"AWS": sorted(role_arns)},
                        "Action": USE,
                        "Resource": "*",
                    }
                ]
                if role_arns
                else []
            ),
            {
                "Sid": "ServicesCreateGrantsForTheirResources",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": ["kms:CreateGrant", "kms:RevokeGrant", *USE],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account_id,
                        "kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in VIA_SERVICES],
                    }
                },
            },
            {
                "Sid": "CloudWatchLogsOfThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"ArnLike": {LOGS_CONTEXT: f"arn:aws:logs:{region}:{account_id}:*"}},
            },
            {
                "Sid": "CloudTrailOfThisStack",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
            {
                "Sid": "EventBridgeWritesTheDeadLetterQueues",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
        ],
    }
