"""A sovereign SageMaker endpoint: network-isolated, in the private subnets, weights only
from the jurisdiction's own KMS-encrypted bucket, container settings from ``plan_serving``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.iam import service_role
from model_serving.serving_config import ServingPlan
from sovgw.config import Jurisdiction, ModelEndpoint, TrustTier


class EndpointRefused(ValueError):
    """The endpoint would break residency; raised while the program runs, before any deploy."""


@dataclass(frozen=True)
class ModelEndpointArgs:
    jurisdiction: Jurisdiction
    endpoint: ModelEndpoint
    plan: ServingPlan
    model_data_url: str
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    min_instances: int = 1
    max_instances: int = 2
    invocations_per_instance: int = 20


def check_residency(args: ModelEndpointArgs) -> None:
    j, e = args.jurisdiction, args.endpoint
    if e.tier is not TrustTier.SOVEREIGN:
        raise EndpointRefused(f"{e.ref}: only sovereign endpoints are deployed by this stack")
    if e.region != j.region or e.region not in j.allowed_regions or args.plan.region != j.region:
        raise EndpointRefused(f"{e.ref}: must be in {j.id}'s region {j.region}")
    if not args.model_data_url.startswith(f"s3://{j.models_bucket}/"):
        raise EndpointRefused(
            f"model data must come from s3://{j.models_bucket}/, not {args.model_data_url}"
        )


class SovereignModelEndpoint(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: ModelEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_residency(args)
        super().__init__("sovgw:model:SovereignModelEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        j, plan = args.jurisdiction, args.plan
        startup_timeout = plan.container_startup_health_check_timeout_seconds
        bucket_arn = f"arn:aws:s3:::{j.models_bucket}"
        self.role = service_role(f"{name}-role", "sagemaker.amazonaws.com", child)
        aws.iam.RolePolicy(
            f"{name}-access",
            role=self.role.id,
            policy=pulumi.Output.from_input(args.kms_key_arn).apply(
                lambda key: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["s3:GetObject"],
                                "Resource": [f"{bucket_arn}/models/*"],
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["s3:ListBucket"],
                                "Resource": [bucket_arn],
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                                "Resource": [key],
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["ecr:GetAuthorizationToken"],
                                "Resource": ["*"],
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                                "Resource": [f"arn:aws:ecr:{j.region}:*:repository/vllm"],
                            },
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogGroup",
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                ],
                                "Resource": [
                                    f"arn:aws:logs:{j.region}:*:log-group:/aws/sagemaker/Endpoints/{args.endpoint.name}*"
                                ],
                            },
                            {
                                "Effect": "Allow",
                                "Resource": ["*"],
                                "Action": [
                                    "ec2:CreateNetworkInterface",
                                    "ec2:CreateNetworkInterfacePermission",
                                    "ec2:DeleteNetworkInterface",
                                    "ec2:DeleteNetworkInterfacePermission",
                                    "ec2:DescribeNetworkInterfaces",
                                    "ec2:DescribeVpcs",
                                    "ec2:DescribeDhcpOptions",
                                    "ec2:DescribeSubnets",
                                    "ec2:DescribeSecurityGroups",
                                ],
                            },
                        ],
                    }
                )
            ),
            opts=child,
        )
        self.model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=self.role.arn,
            enable_network_isolation=True,
            primary_container={
                "image": plan.image,
                "model_data_url": args.model_data_url,
                "environment": plan.environment,
            },
            vpc_config={
                "subnets": list(args.subnet_ids),
                "security_group_ids": [args.security_group_id],
            },
            opts=child,
        )
        self.config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            kms_key_arn=args.kms_key_arn,
            production_variants=[
                {
                    "model_name": self.model.name,
                    "variant_name": "AllTraffic",
                    "instance_type": plan.instance_type,
                    "initial_instance_count": args.min_instances,
                    "container_startup_health_check_timeout_in_seconds": startup_timeout,
                    "model_data_download_timeout_in_seconds": (
                        plan.model_data_download_timeout_seconds
                    ),
                }
            ],
            opts=child,
        )
        self.endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=args.endpoint.name,
            endpoint_config_name=self.config.name,
            opts=child,
        )
        resource_id = self.endpoint.name.apply(lambda n: f"endpoint/{n}/variant/AllTraffic")
        target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="sagemaker",
            resource_id=resource_id,
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=args.min_instances,
            max_capacity=args.max_instances,
            opts=child,
        )
        aws.appautoscaling.Policy(
            f"{name}-invocations",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration={
                "target_value": args.invocations_per_instance,
                "predefined_metric_specification": {
                    "predefined_metric_type": "SageMakerVariantInvocationsPerInstance"
                },
                "scale_in_cooldown": 600,
                "scale_out_cooldown": 120,
            },
            opts=child,
        )
        self.register_outputs({"endpoint_name": self.endpoint.name})
