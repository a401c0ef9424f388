"""The sovereignty invariants as Pulumi policies: pure functions over a resource's type and
properties, so the pack (``infra/policy``) and the tests run the same code.

Each check returns the violations it finds (empty: compliant)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

OPEN_WORLD = {"0.0.0.0/0", "::/0"}
INTERNET_TYPES = {
    "aws:ec2/internetGateway:InternetGateway": "an internet gateway",
    "aws:ec2/natGateway:NatGateway": "a NAT gateway",
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": "an egress-only gateway",
    "aws:ec2/eip:Eip": "a public (Elastic) IP",
}
# Resource type → the property that must name a customer-managed KMS key.
CMK_PROPERTY = {
    "aws:cloudwatch/logGroup:LogGroup": "kmsKeyId",
    "aws:secretsmanager/secret:Secret": "kmsKeyId",
    "aws:sqs/queue:Queue": "kmsMasterKeyId",
    "aws:lambda/function:Function": "kmsKeyArn",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "kmsKeyArn",
    "aws:elasticache/serverlessCache:ServerlessCache": "kmsKeyId",
    "aws:cloudtrail/trail:Trail": "kmsKeyId",
}
Check = Callable[[str, Mapping[str, Any], str], list[str]]


def region_pinned(resource_type: str, props: Mapping[str, Any], region: str) -> list[str]:
    """Providers and per-resource region overrides stay in the stack's region."""
    if resource_type == "pulumi:providers:aws" and props.get("region") != region:
        return [f"AWS provider region {props.get('region')!r} is not the stack's {region}"]
    own = props.get("region")
    if own and own != region:
        return [f"resource region {own!r} is not the stack's {region}"]
    return []


def no_internet_path(resource_type: str, props: Mapping[str, Any], region: str) -> list[str]:
    """No gateway to the internet, no public IP, no route or rule open to the world."""
    if resource_type in INTERNET_TYPES:
        return [f"{INTERNET_TYPES[resource_type]} would open a path to the internet"]
    found: list[str] = []
    if resource_type == "aws:ec2/subnet:Subnet" and props.get("mapPublicIpOnLaunch"):
        found.append("subnet assigns public IPs")
    if resource_type == "aws:ec2/route:Route" and (
        props.get("destinationCidrBlock") in OPEN_WORLD
        or props.get("destinationIpv6CidrBlock") in OPEN_WORLD
    ):
        found.append("route to 0.0.0.0/0")
    if resource_type == "aws:ec2/routeTable:RouteTable":
        for route in props.get("routes") or ():
            if route.get("cidrBlock") in OPEN_WORLD or route.get("ipv6CidrBlock") in OPEN_WORLD:
                found.append("route table with a default route")
    if resource_type in {
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
    }:
        rules = [*(props.get("ingress") or ()), *(props.get("egress") or ()), props]
        for rule in rules:
            cidrs = {*(rule.get("cidrBlocks") or ()), *(rule.get("ipv6CidrBlocks") or ())}
            if cidrs & OPEN_WORLD:
                found.append("security group rule open to 0.0.0.0/0")
                break
    if resource_type == "aws:lambda/functionUrl:FunctionUrl":
        found.append("a Lambda function URL is a public endpoint")
    return found


def cmk_encryption(resource_type: str, props: Mapping[str, Any], region: str) -> list[str]:
    """Buckets, logs, secrets, queues, functions, volumes, caches and trails use a CMK."""
    if resource_type in CMK_PROPERTY and not props.get(CMK_PROPERTY[resource_type]):
        return [f"{resource_type} without a customer-managed key ({CMK_PROPERTY[resource_type]})"]
    if (
        resource_type
        == "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ):
        for rule in props.get("rules") or ():
            default = rule.get("applyServerSideEncryptionByDefault") or {}
            if default.get("sseAlgorithm") != "aws:kms" or not default.get("kmsMasterKeyId"):
                return ["bucket encryption is not SSE-KMS with a customer-managed key"]
    return []


def audit_bucket_locked(resource_type: str, props: Mapping[str, Any], region: str) -> list[str]:
    """Evidence buckets are created with Object Lock, and lock in COMPLIANCE mode."""
    evidence = str(props.get("bucket", "")).startswith(("sovgw-audit-", "sovgw-trail-"))
    if resource_type == "aws:s3/bucket:Bucket" and evidence and not props.get("objectLockEnabled"):
        return [f"evidence bucket {props.get('bucket')} without Object Lock"]
    if resource_type == "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration":
        retention = (props.get("rule") or {}).get("defaultRetention") or {}
        if retention.get("mode") != "COMPLIANCE":
            return ["Object Lock default retention is not COMPLIANCE"]
    return []


# What no principal but the break-glass role may do to an evidence bucket.
EVIDENCE_TAMPER_ACTIONS = frozenset(
    {
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutBucketPolicy",
        "s3:PutBucketVersioning",
        "s3:PutObjectLegalHold",
        "s3:PutBucketObjectLockConfiguration",
    }
)


def evidence_tamper_denied(resource_type: str, props: Mapping[str, Any], region: str) -> list[str]:
    """Every bucket policy (the stack's only ones guard evidence) denies hiding an object or
    loosening its protection to all principals but one named break-glass role."""
    if resource_type != "aws:s3/bucketPolicy:BucketPolicy":
        return []
    raw = props.get("policy")
    document = json.loads(raw) if isinstance(raw, str) else raw or {}
    for statement in document.get("Statement") or []:
        actions = statement.get("Action") or []
        actions = {actions} if isinstance(actions, str) else set(actions)
        exempt = ((statement.get("Condition") or {}).get("ArnNotEquals") or {}).get(
            "aws:PrincipalArn"
        )
        if (
            statement.get("Effect") == "Deny"
            and statement.get("Principal") == "*"
            and actions >= EVIDENCE_TAMPER_ACTIONS
            and isinstance(exempt, str)
            and exempt.endswith("-break-glass")
            and set(statement.get("Condition")) == {"ArnNotEquals"}
        ):
            return []
    return [
        "evidence bucket policy does not deny deletes and protection changes to all principals "
        "but the break-glass role"
    ]


def model_isolated(resource_type: str, props: Mapping[str, Any], region: str) -> list[str]:
    """Models run without network access, inside the VPC."""
    if resource_type != "aws:sagemaker/model:Model":
        return []
    found = []
    if not props.get("enableNetworkIsolation"):
        found.append("SageMaker model without network isolation")
    if not (props.get("vpcConfig") or {}).get("subnets"):
        found.append("SageMaker model outside the VPC")
    return found


def no_wildcard_iam(resource_type: str, props: Mapping[str, Any], region: str) -> list[str]:
    """No ``*`` or ``service:*`` action in any role or policy document."""
    if resource_type not in {
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
    }:
        return []
    found = []
    for key in ("policy", "assumeRolePolicy", "inlinePolicies"):
        raw = props.get(key)
        if not raw:
            continue
        documents = raw if isinstance(raw, list) else [raw]
        for document in documents:
            text = document.get("policy") if isinstance(document, dict) else document
            parsed = json.loads(text) if isinstance(text, str) else text or {}
            statements = parsed.get("Statement") or []
            for statement in statements if isinstance(statements, list) else [statements]:
                actions = statement.get("Action") or []
                for action in actions if isinstance(actions, list) else [actions]:
                    if statement.get("Effect") == "Allow" and (
                        action == "*" or str(action).endswith(":*")
                    ):
                        found.append(f"wildcard action {action!r} in {key}")
    return found


CHECKS: dict[str, tuple[str, Check]] = {
    "region-pinned": ("every regional resource in the stack's region", region_pinned),
    "no-internet-path": ("no internet or NAT gateway, public IP or open egress", no_internet_path),
    "cmk-encryption": ("customer-managed keys on data at rest", cmk_encryption),
    "audit-object-lock": ("Object Lock (COMPLIANCE) on evidence buckets", audit_bucket_locked),
    "evidence-tamper-deny": (
        "only the break-glass role may delete evidence or change its protection",
        evidence_tamper_denied,
    ),
    "model-network-isolation": ("models isolated from the network", model_isolated),
    "no-wildcard-iam": ("no wildcard IAM actions", no_wildcard_iam),
}
