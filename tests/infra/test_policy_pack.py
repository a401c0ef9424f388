"""The policy pack: every stack passes it, and it rejects each seeded violation."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pulumi_policy import (
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy.evaluate import RecordingMocks
from infra.policy.pack import policies
from infra.policy.rules import CHECKS, STACK_CHECKS, evidence_replicated
from tests.infra.test_stack import GATEWAY, _model_settings, _run, _run_with_model


@pytest.mark.parametrize("jurisdiction_id", ["eu-de", "eu-fr", "ch"])
def test_every_stack_passes_every_policy(jurisdiction_id: str) -> None:
    mocks = _run(jurisdiction_id)
    region = GATEWAY.jurisdiction(jurisdiction_id).region  # type: ignore[union-attr]
    violations = [
        (name, resource_type, violation)
        for resource_type, _, props in mocks.resources
        for name, (_, check) in CHECKS.items()
        for violation in check(resource_type, props, region)
    ]
    assert violations == []
    assert _stack_violations(mocks) == []
    assert len(mocks.resources) > 100


def _stack_violations(mocks: RecordingMocks) -> list[str]:
    resources = [(resource_type, props) for resource_type, _, props in mocks.resources]
    return [v for _, check in STACK_CHECKS.values() for v in check(resources, "")]


def test_a_stack_without_a_log_archive_fails_the_pack() -> None:
    violations = _stack_violations(_run("eu-de", archive=None))
    assert sorted(violations) == [
        f"eu-de: evidence under {prefix} is not replicated to a log-archive account"
        for prefix in ("AWSLogs/", "digests/", "manifests/", "records/")
    ]


def _replicated_stack(**changes: Any) -> list[tuple[str, dict[str, Any]]]:
    """The eu-de stack's resources, its replication rules changed by ``changes`` (a dotted
    path into each rule → its new value)."""
    resources = [(t, copy.deepcopy(props)) for t, _, props in _run("eu-de").resources]
    for resource_type, props in resources:
        if resource_type.endswith("BucketReplicationConfig"):
            for rule in props["rules"]:
                for path, value in changes.items():
                    *parents, leaf = path.split(".")
                    target = rule
                    for part in parents:
                        target = target[part]
                    target[leaf] = value
    return resources


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"deleteMarkerReplication.status": "Enabled"}, "replicates delete markers"),
        ({"destination.account": "111122223333"}, "not another account"),
        ({"destination.accessControlTranslation.owner": "Source"}, "not owned by the archive"),
        ({"destination.bucket": "arn:aws:s3:::unlocked-copy"}, "without Object Lock"),
        ({"status": "Disabled"}, "not enabled"),
    ],
)
def test_the_pack_rejects_each_weakened_replication(changes: dict[str, Any], message: str) -> None:
    violations = evidence_replicated(_replicated_stack(**changes), "")
    assert violations and all(message in v or "is not replicated" in v for v in violations)
    assert any(message in v for v in violations)


def test_the_model_endpoint_stack_passes_too() -> None:
    mocks = _run_with_model(_model_settings())
    for resource_type, _, props in mocks.resources:
        for name, (_, check) in CHECKS.items():
            assert check(resource_type, props, "eu-central-1") == [], (name, resource_type)


WILDCARD = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
TLS_ONLY = json.dumps(
    {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
)
DELETES_ONLY = json.dumps(
    {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Condition": {
                    "ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/sovgw-x-break-glass"}
                },
            }
        ]
    }
)
SEEDED: list[tuple[str, str, dict[str, Any], str]] = [
    ("region-pinned", "pulumi:providers:aws", {"region": "us-east-1"}, "not the stack's"),
    ("region-pinned", "aws:s3/bucket:Bucket", {"region": "us-west-2"}, "resource region"),
    ("no-internet-path", "aws:ec2/internetGateway:InternetGateway", {}, "internet gateway"),
    ("no-internet-path", "aws:ec2/natGateway:NatGateway", {}, "NAT gateway"),
    ("no-internet-path", "aws:ec2/eip:Eip", {}, "public"),
    ("no-internet-path", "aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True}, "public IPs"),
    ("no-internet-path", "aws:ec2/route:Route", {"destinationCidrBlock": "0.0.0.0/0"}, "0.0.0.0/0"),
    (
        "no-internet-path",
        "aws:ec2/securityGroup:SecurityGroup",
        {"egress": [{"cidrBlocks": ["0.0.0.0/0"], "protocol": "-1"}]},
        "open to 0.0.0.0/0",
    ),
    ("no-internet-path", "aws:lambda/functionUrl:FunctionUrl", {}, "public endpoint"),
    ("cmk-encryption", "aws:cloudwatch/logGroup:LogGroup", {"name": "x"}, "customer-managed"),
    ("cmk-encryption", "aws:secretsmanager/secret:Secret", {"name": "x"}, "customer-managed"),
    (
        "cmk-encryption",
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        {},
        "kmsKeyArn",
    ),
    (
        "cmk-encryption",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        "SSE-KMS",
    ),
    ("audit-object-lock", "aws:s3/bucket:Bucket", {"bucket": "sovgw-audit-eu-de"}, "Object Lock"),
    (
        "audit-object-lock",
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        {"rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": 1}}},
        "COMPLIANCE",
    ),
    (
        "model-network-isolation",
        "aws:sagemaker/model:Model",
        {"vpcConfig": {"subnets": ["s"]}},
        "isolation",
    ),
    (
        "model-network-isolation",
        "aws:sagemaker/model:Model",
        {"enableNetworkIsolation": True},
        "outside the VPC",
    ),
    ("no-wildcard-iam", "aws:iam/rolePolicy:RolePolicy", {"policy": WILDCARD}, "s3:*"),
    ("evidence-tamper-deny", "aws:s3/bucketPolicy:BucketPolicy", {"policy": TLS_ONLY}, "deletes"),
    (
        "evidence-tamper-deny",
        "aws:s3/bucketPolicy:BucketPolicy",
        {"policy": DELETES_ONLY},
        "protection changes",
    ),
]


@pytest.mark.parametrize(("policy", "resource_type", "props", "message"), SEEDED)
def test_the_pack_rejects_each_seeded_violation(
    policy: str, resource_type: str, props: dict[str, Any], message: str
) -> None:
    (found,) = [p for p in policies() if p.name == policy]
    assert isinstance(found, ResourceValidationPolicy)
    reported: list[str] = []
    args = ResourceValidationArgs(
        resource_type,
        props,
        f"urn:pulumi:eu-de::sovgw::{resource_type}::x",
        "x",
        None,  # type: ignore[arg-type]  # options are not used by these policies
        None,
        config={"region": "eu-central-1"},
    )
    assert callable(found.validate)
    found.validate(args, lambda text, urn: reported.append(text))
    assert reported and message in reported[0]


def test_the_packs_stack_policy_reports_through_pulumi_policy() -> None:
    """The same check, as the Pulumi CLI would call the pack's stack policy."""
    (stack_policy,) = [p for p in policies() if isinstance(p, StackValidationPolicy)]
    resources = [
        PolicyResource(t, props, f"urn:{n}", n, None, None, None, [], {})  # type: ignore[arg-type]
        for t, n, props in _run("eu-de", archive=None).resources
    ]
    reported: list[str] = []
    assert callable(stack_policy.validate)
    stack_policy.validate(StackValidationArgs(resources), lambda text, urn: reported.append(text))
    assert len(reported) == 4 and all("not replicated" in r for r in reported)
