"""What every Lambda function of a jurisdiction shares, written once: the statements each role
needs (its own log group, VPC network interfaces, X-Ray, its jurisdiction's audit prefix and
key) and the function settings (python3.13 on arm64 in the private subnets, KMS-encrypted
environment, active tracing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.iam import service_role
from sovgw.adapters.aws.incidents import PREFIX as INCIDENTS_PREFIX
from sovgw.config import Jurisdiction
from sovgw.wiring import LOG_RETENTION_DAYS, RUNTIME_ENVIRONMENT

ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


@dataclass(frozen=True)
class LambdaPlacement:
    """Where a jurisdiction's functions run and what they write to: shared by every
    component that hosts a function."""

    jurisdiction: Jurisdiction
    account_id: str
    code_path: str
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    audit_bucket_arn: pulumi.Input[str]

    def shared(self) -> dict[str, Any]:
        """The placement as keyword arguments for a component's args."""
        return {f.name: getattr(self, f.name) for f in fields(LambdaPlacement)}


def invoke_endpoints_statement(
    region: str, account_id: str, endpoint_names: Sequence[str]
) -> dict[str, Any]:
    """Invoke (plain and streaming) exactly these in-region SageMaker endpoints."""
    return {
        "Effect": "Allow",
        "Action": ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
        "Resource": [
            f"arn:aws:sagemaker:{region}:{account_id}:endpoint/{name}" for name in endpoint_names
        ],
    }


def base_statements(
    jurisdiction: Jurisdiction, account_id: str, function_name: str, *, audit_arn: str, key_arn: str
) -> list[dict[str, Any]]:
    """Logs, ENIs, X-Ray, audit records of its jurisdiction, and its jurisdiction's key; the
    orgs' leak canaries (every function watches its logs, dead letters and outputs for them)
    and the incident events a sighting appends."""
    return [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                f"arn:aws:logs:{jurisdiction.region}:{account_id}:log-group:/aws/lambda/{function_name}:*"
            ],
        },
        {"Effect": "Allow", "Action": ENI_ACTIONS, "Resource": ["*"]},
        {
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": ["*"],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{audit_arn}/records/{jurisdiction.id}/*"],
        },
        {
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": [key_arn],
        },
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [
                f"arn:aws:secretsmanager:{jurisdiction.region}:{account_id}:secret:"
                f"sovgw/{jurisdiction.id}/canaries/*"
            ],
        },
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [audit_arn]},
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{audit_arn}/{INCIDENTS_PREFIX}*"],
        },
    ]


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the jurisdiction's functions (the rest is their placement)."""

    function_name: str
    handler: str
    environment: Mapping[str, pulumi.Input[str]]
    timeout_s: int = 60
    memory_mb: int = 512
    reserved_concurrency: int = 10
    layers: Sequence[str] = ()


def function_role(
    resource_name: str, policy: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> aws.iam.Role:
    """A role only Lambda may assume, with its one inline policy."""
    role = service_role(resource_name, "lambda.amazonaws.com", opts)
    aws.iam.RolePolicy(resource_name, role=role.id, policy=policy, opts=opts)
    return role


def private_function(
    resource_name: str,
    placement: LambdaPlacement,
    role: aws.iam.Role,
    spec: FunctionSpec,
    opts: pulumi.ResourceOptions,
) -> aws.lambda_.Function:
    """A python3.13/arm64 function in the private subnets, logging to its own KMS-encrypted
    log group with a retention (created first, so Lambda never creates an unencrypted one)."""
    logs = aws.cloudwatch.LogGroup(
        f"{resource_name}-logs",
        name=f"/aws/lambda/{spec.function_name}",
        kms_key_id=placement.kms_key_arn,
        retention_in_days=LOG_RETENTION_DAYS,
        opts=opts,
    )
    return aws.lambda_.Function(
        resource_name,
        name=spec.function_name,
        runtime="python3.13",
        architectures=["arm64"],
        handler=spec.handler,
        code=pulumi.FileArchive(placement.code_path),
        role=role.arn,
        timeout=spec.timeout_s,
        memory_size=spec.memory_mb,
        reserved_concurrent_executions=spec.reserved_concurrency,
        kms_key_arn=placement.kms_key_arn,
        layers=list(spec.layers) or None,
        tracing_config={"mode": "Active"},
        vpc_config={
            "subnet_ids": list(placement.subnet_ids),
            "security_group_ids": [placement.security_group_id],
        },
        environment={"variables": {**RUNTIME_ENVIRONMENT, **spec.environment}},
        logging_config={"log_format": "JSON", "log_group": logs.name},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[logs])),
    )
