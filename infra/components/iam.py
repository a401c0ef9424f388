"""IAM roles assumed by one AWS service: the trust policy written once."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws


def service_role(name: str, service: str, opts: pulumi.ResourceOptions) -> aws.iam.Role:
    """A role only ``service`` (e.g. ``lambda.amazonaws.com``) may assume."""
    return aws.iam.Role(
        name,
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": service},
                    }
                ],
            }
        ),
        opts=opts,
    )
