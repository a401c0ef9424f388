"""IAM roles assumed by one AWS service: the trust policy written once."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws


def service_role(
    name: str,
    service: str,
    opts: pulumi.ResourceOptions,
    *,
    role_name: str | None = None,
    source_account: str | None = None,
) -> aws.iam.Role:
    """A role only ``service`` (e.g. ``lambda.amazonaws.com``) may assume; with
    ``source_account``, only on behalf of that account (no confused deputy); ``role_name``
    when other resources name the role before it exists."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"Service": service},
    }
    if source_account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return aws.iam.Role(
        name,
        name=role_name,
        assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        opts=opts,
    )
