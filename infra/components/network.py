"""Region-pinned private network: isolated subnets only, no internet or NAT gateway, AWS
services reached through VPC endpoints whose policies admit this account only."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.iam import service_role
from sovgw.wiring import FLOW_LOG_RETENTION_DAYS

INTERFACE_SERVICES = (
    "sagemaker.runtime",
    "sagemaker.api",
    "secretsmanager",
    "kms",
    "logs",
    "events",
    "sts",
    "monitoring",
    "sqs",
    "execute-api",
)


@dataclass(frozen=True)
class NetworkArgs:
    region: str
    account_id: str
    cidr: str = "10.40.0.0/16"
    availability_zones: int = 3
    flow_log_key_arn: pulumi.Input[str] | None = None
    # Salesforce Private Connect (inbound, AWS PrivateLink): the endpoint service names
    # Salesforce gives for the orgs' region. Without one, functions cannot reach Salesforce:
    # the VPC has no other way out.
    salesforce_endpoint_services: tuple[str, ...] = ()


class SovereignNetwork(pulumi.ComponentResource):
    """VPC with private isolated subnets, interface and gateway endpoints, flow logs."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovgw:network:SovereignNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.cidr = args.cidr
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        self.route_table = aws.ec2.RouteTable(f"{name}-private", vpc_id=self.vpc.id, opts=child)
        self.subnets = []
        for index in range(args.availability_zones):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=self.vpc.id,
                cidr_block=f"10.40.{index * 16}.0/20",
                availability_zone=f"{args.region}{'abc'[index]}",
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{index}", "sovgw:tier": "isolated"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}",
                subnet_id=subnet.id,
                route_table_id=self.route_table.id,
                opts=child,
            )
            self.subnets.append(subnet)
        self.endpoint_security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=self.vpc.id,
            description="HTTPS from inside the VPC to AWS service endpoints",
            ingress=[
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [args.cidr]}
            ],
            egress=[
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [args.cidr]}
            ],
            opts=child,
        )
        account_only = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:PrincipalAccount": args.account_id}},
                    }
                ],
            }
        )
        # Callers of the private proxy API authenticate with app keys, not SigV4, so this
        # endpoint admits unsigned calls, but only to this account's APIs.
        this_accounts_apis = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "execute-api:Invoke",
                        "Resource": f"arn:aws:execute-api:{args.region}:{args.account_id}:*",
                    }
                ],
            }
        )
        self.interface_endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        for service in INTERFACE_SERVICES:
            self.interface_endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.subnets],
                security_group_ids=[self.endpoint_security_group.id],
                policy=this_accounts_apis if service == "execute-api" else account_only,
                opts=child,
            )
        self.salesforce_endpoints = [
            aws.ec2.VpcEndpoint(
                f"{name}-salesforce-{index}",
                vpc_id=self.vpc.id,
                service_name=service,
                vpc_endpoint_type="Interface",
                private_dns_enabled=False,
                subnet_ids=[s.id for s in self.subnets],
                security_group_ids=[self.endpoint_security_group.id],
                opts=child,
            )
            for index, service in enumerate(args.salesforce_endpoint_services)
        ]
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[self.route_table.id],
            policy=account_only,
            opts=child,
        )
        flow_logs = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=FLOW_LOG_RETENTION_DAYS,
            kms_key_id=args.flow_log_key_arn,
            opts=child,
        )
        flow_role = service_role(f"{name}-flow-logs", "vpc-flow-logs.amazonaws.com", child)
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=flow_role.id,
            policy=flow_logs.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Resource": [arn, f"{arn}:*"],
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination=flow_logs.arn,
            iam_role_arn=flow_role.arn,
            opts=child,
        )
        self.register_outputs({"vpc_id": self.vpc.id, "subnet_ids": [s.id for s in self.subnets]})
