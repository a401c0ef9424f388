"""The dataset pipeline as the eu-de stack deploys it (Pulumi's mocks running the real
pulumi-aws classes): the bucket, the scan's state machine and its role, and governed training,
with the policy pack's training check failing each weakening of them."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra.policy.evaluate import RecordingMocks
from infra.policy.rules import training_governed
from sovgw.wiring import DATASET_SCAN_MAX_CONCURRENCY, dataset_scan_definition
from tests.infra.test_stack import ACCOUNT, _run

REGION = "eu-central-1"
BUCKET = "arn:aws:s3:::sovgw-datasets-eu-de"


@pytest.fixture(scope="module")
def mocks() -> RecordingMocks:
    return _run("eu-de")


def _named(mocks: RecordingMocks, suffix: str, name_end: str) -> dict[str, Any]:
    (found,) = [p for t, n, p in mocks.resources if t.endswith(suffix) and n.endswith(name_end)]
    return found


def _policy(mocks: RecordingMocks, name_end: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(
        _named(mocks, "iam/rolePolicy:RolePolicy", name_end)["policy"]
    )["Statement"]
    return statements


def test_the_bucket_is_private_kms_encrypted_and_forgets_raw_data(mocks: RecordingMocks) -> None:
    bucket = _named(mocks, "s3/bucket:Bucket", "-datasets-bucket")
    assert bucket["bucket"] == "sovgw-datasets-eu-de"
    sse = _named(mocks, "BucketServerSideEncryptionConfiguration", "-datasets-sse")
    default = sse["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms" and default["kmsMasterKeyId"]
    private = _named(mocks, "BucketPublicAccessBlock", "-datasets-private")
    assert all(
        private[k] for k in ("blockPublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
    )
    rules = _named(mocks, "BucketLifecycleConfiguration", "-datasets-lifecycle")["rules"]
    assert {r["filter"]["prefix"]: r["expiration"]["days"] for r in rules} == {
        "raw/": 30,
        "quarantine/": 90,
        "rejected/": 90,
    }


def test_training_reads_curated_records_only(mocks: RecordingMocks) -> None:
    statements = _policy(mocks, "-datasets-training")
    reads = [s for s in statements if s["Effect"] == "Allow" and "s3:GetObject" in s["Action"]]
    assert [r["Resource"] for r in reads] == [[f"{BUCKET}/curated/*"]]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert f"{BUCKET}/raw/*" in deny["Resource"] and f"{BUCKET}/quarantine/*" in deny["Resource"]
    bucket_policy = json.loads(
        _named(mocks, "bucketPolicy:BucketPolicy", "-datasets-bucket-policy")["policy"]
    )
    (kept,) = [s for s in bucket_policy["Statement"] if s["Sid"] == "TrainingReadsCuratedOnly"]
    assert kept["Effect"] == "Deny" and kept["NotResource"] == [f"{BUCKET}/curated/*"]
    assert kept["Principal"] == {"AWS": "arn:aws:mock:::sovgw-eu-de-datasets-training"}
    trust = json.loads(_named(mocks, "iam/role:Role", "-datasets-training")["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}


def test_the_state_machine_is_the_tested_definition_with_a_least_privilege_role(
    mocks: RecordingMocks,
) -> None:
    machine = _named(mocks, "sfn/stateMachine:StateMachine", "-datasets-scan-machine")
    scan = "arn:aws:mock:::sovgw-eu-de-datasets-dataset_scan"
    reconcile = "arn:aws:mock:::sovgw-eu-de-datasets-dataset_reconcile"
    assert json.loads(machine["definition"]) == json.loads(
        json.dumps(dataset_scan_definition("sovgw-datasets-eu-de", scan, reconcile))
    )
    assert machine["name"] == "sovgw-eu-de-dataset-scan" and machine["type"] == "STANDARD"
    assert machine["encryptionConfiguration"]["type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert machine["loggingConfiguration"]["includeExecutionData"] is False
    assert json.loads(machine["definition"])["States"]["ScanParts"]["MaxConcurrency"] == (
        DATASET_SCAN_MAX_CONCURRENCY
    )
    statements = _policy(mocks, "-datasets-scan-machine")
    (invoke,) = [s for s in statements if s["Action"] == ["lambda:InvokeFunction"]]
    assert invoke["Resource"] == [scan, f"{scan}:*", reconcile, f"{reconcile}:*"]
    (start,) = [s for s in statements if s["Action"] == ["states:StartExecution"]]
    assert start["Resource"] == [
        f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sovgw-eu-de-dataset-scan"
    ]


def test_the_scan_function_never_writes_raw_and_reconcile_never_reads_it(
    mocks: RecordingMocks,
) -> None:
    scan = _policy(mocks, "-datasets-dataset_scan")
    writes = {r for s in scan if "s3:PutObject" in s["Action"] for r in s["Resource"]}
    audit = "arn:aws:mock:::sovgw-eu-de-audit-bucket"
    writes -= {f"{audit}/records/eu-de/*", f"{audit}/incidents/*"}  # audit records, incidents
    assert writes == {f"{BUCKET}/{p}*" for p in ("curated/", "quarantine/", "rejected/", "builds/")}
    reconcile = _policy(mocks, "-datasets-dataset_reconcile")
    reads = {r for s in reconcile if "s3:GetObject" in s["Action"] for r in s["Resource"]}
    assert reads == {f"{BUCKET}/builds/*", f"{audit}/incidents/*"}


def test_the_only_training_job_that_may_start_is_the_governed_one(mocks: RecordingMocks) -> None:
    template = json.loads(
        _named(mocks, "ssm/parameter:Parameter", "-training-template")["insecureValue"]
    )
    assert template["EnableNetworkIsolation"] is True and template["VpcConfig"]["Subnets"]
    assert template["ResourceConfig"]["VolumeKmsKeyId"] == template["OutputDataConfig"]["KmsKeyId"]
    assert template["OutputDataConfig"]["S3OutputPath"].startswith("s3://sovgw-models-eu-de/")
    launch = json.loads(_named(mocks, "iam/policy:Policy", "-training-launch")["policy"])
    (create,) = [s for s in launch["Statement"] if s["Action"] == ["sagemaker:CreateTrainingJob"]]
    assert create["Condition"]["Bool"]["sagemaker:NetworkIsolation"] == "true"
    assert (
        create["Condition"]["ForAllValues:StringEquals"]["sagemaker:VpcSubnets"]
        == (template["VpcConfig"]["Subnets"])
    )
    (passing,) = [s for s in launch["Statement"] if s["Action"] == ["iam:PassRole"]]
    assert passing["Resource"] == [template["RoleArn"]]


def _weakened(
    mocks: RecordingMocks, suffix: str, name_end: str, key: str, change: Any
) -> tuple[str, dict[str, Any]]:
    ((resource_type, props),) = [
        (t, copy.deepcopy(p))
        for t, n, p in mocks.resources
        if t.endswith(suffix) and n.endswith(name_end)
    ]
    document = json.loads(props[key])
    change(document)
    props[key] = json.dumps(document)
    return resource_type, props


@pytest.mark.parametrize(
    ("target", "change", "message"),
    [
        (
            ("ssm/parameter:Parameter", "-training-template", "insecureValue"),
            lambda t: t.update(EnableNetworkIsolation=False),
            "network isolation",
        ),
        (
            ("ssm/parameter:Parameter", "-training-template", "insecureValue"),
            lambda t: t["ResourceConfig"].pop("VolumeKmsKeyId"),
            "KMS key on its volume",
        ),
        (
            ("ssm/parameter:Parameter", "-training-template", "insecureValue"),
            lambda t: t["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(
                S3Uri="s3://sovgw-datasets-eu-de/raw/case-training/"
            ),
            "not a curated prefix",
        ),
        (
            ("ssm/parameter:Parameter", "-training-template", "insecureValue"),
            lambda t: t["AlgorithmSpecification"].update(
                TrainingImage="763104351884.dkr.ecr.us-east-1.amazonaws.com/x:1"
            ),
            "region",
        ),
        (
            ("iam/rolePolicy:RolePolicy", "-datasets-training", "policy"),
            lambda d: d["Statement"][0]["Resource"].append(f"{BUCKET}/quarantine/*"),
            "also reads",
        ),
        (
            ("iam/rolePolicy:RolePolicy", "-datasets-training", "policy"),
            lambda d: d["Statement"].pop(2),
            "not denied raw/",
        ),
        (
            ("iam/policy:Policy", "-training-launch", "policy"),
            lambda d: d["Statement"][0]["Condition"].pop("StringEquals"),
            "sagemaker:OutputKmsKey",
        ),
    ],
)
def test_the_pack_fails_each_weakened_training_control(
    mocks: RecordingMocks, target: tuple[str, str, str], change: Any, message: str
) -> None:
    """``target``: the resource type's suffix, the end of its name, the JSON property."""
    resource_type, props = _weakened(mocks, *target, change)
    found = training_governed(resource_type, props, REGION)
    assert any(message in f for f in found), found
