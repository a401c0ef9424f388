"""Training datasets of one jurisdiction: the dataset bucket, the scan's state machine and
functions, and governed training (a role that reads only curated records, and the only
training job the launch policy lets anyone start: in the VPC, network-isolated, KMS volume and
output, output in the jurisdiction's models bucket).

Prefixes of the dataset bucket: ``raw/`` (Salesforce's pages), ``quarantine/`` and
``rejected/`` (kept for review, never trained on), ``curated/`` (what training reads),
``builds/`` and ``manifests/`` (checkpoints, lineage).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.buckets import private_and_encrypted
from infra.components.iam import service_role
from infra.components.lambdas import (
    ENI_ACTIONS,
    FunctionSpec,
    LambdaPlacement,
    base_statements,
    function_role,
    private_function,
)
from sovgw.wiring import (
    DATASET_FUNCTIONS,
    DATASET_RECONCILE,
    DATASET_SCAN,
    LOG_RETENTION_DAYS,
    dataset_scan_definition,
    dataset_state_machine_name,
    function_name,
)

OUTPUT_DATASETS_BUCKET = "datasetsBucket"
OUTPUT_DATASET_STATE_MACHINE = "datasetStateMachineArn"  # SOVGW_DATASET_STATE_MACHINE_ARN
OUTPUT_TRAINING_ROLE = "trainingRoleArn"
OUTPUT_TRAINING_LAUNCH_POLICY = "trainingLaunchPolicyArn"
OUTPUT_TRAINING_TEMPLATE = "trainingJobTemplate"
CURATED = "curated/"
NEVER_TRAINED_ON = ("raw/", "quarantine/", "rejected/", "builds/", "manifests/")
TRAINING_OUTPUT = "training-output/"
# Raw exports hold everything Salesforce sent: kept only until the build is scanned and
# reviewed; quarantined and rejected records until a person has decided on them.
RETENTION_DAYS = {"raw/": 30, "quarantine/": 90, "rejected/": 90}
S3_OBJECT_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"]
# The HuggingFace PyTorch training image, pulled from the ECR registry in the stack's region.
DEFAULT_TRAINING_IMAGE = (
    "763104351884.dkr.ecr.{region}.amazonaws.com/"
    "huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04"
)


@dataclass(frozen=True)
class DatasetsArgs(LambdaPlacement):
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    budget_connect_arns: pulumi.Input[Sequence[str]] | None = None
    training_instance_type: str = "ml.g5.12xlarge"
    training_image: str | None = None


def training_job_template(
    args: DatasetsArgs, role_arn: str, key_arn: str, subnets: list[str], security_group: str
) -> dict[str, Any]:
    """The CreateTrainingJob request every fine-tuning starts from (``TrainingJobName`` and
    the build's ``S3Uri`` filled in per job); the launch policy refuses any other shape."""
    j = args.jurisdiction
    return {
        "RoleArn": role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": (args.training_image or DEFAULT_TRAINING_IMAGE).format(
                region=j.region
            ),
            "TrainingInputMode": "File",
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{j.datasets_bucket}/{CURATED}<dataset>/<build>/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {
            "S3OutputPath": f"s3://{j.models_bucket}/{TRAINING_OUTPUT}",
            "KmsKeyId": key_arn,
        },
        "ResourceConfig": {
            "InstanceType": args.training_instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": 200,
            "VolumeKmsKeyId": key_arn,
        },
        "VpcConfig": {"Subnets": subnets, "SecurityGroupIds": [security_group]},
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "StoppingCondition": {"MaxRuntimeInSeconds": 86_400},
    }


def launch_policy(
    args: DatasetsArgs, role_arn: str, key_arn: str, subnets: list[str], security_group: str
) -> dict[str, Any]:
    """Who has this policy may start a training job only as the template has it: the
    training role, network isolation, the stack's subnets and group, the jurisdiction's key
    on the volume and the output. Anything else is not allowed (and nothing here is ``*``)."""
    j = args.jurisdiction
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartOnlyGovernedTrainingJobs",
                "Effect": "Allow",
                "Action": ["sagemaker:CreateTrainingJob"],
                "Resource": [f"arn:aws:sagemaker:{j.region}:{args.account_id}:training-job/*"],
                "Condition": {
                    "Bool": {
                        "sagemaker:NetworkIsolation": "true",
                        "sagemaker:InterContainerTrafficEncryption": "true",
                    },
                    "ForAllValues:StringEquals": {
                        "sagemaker:VpcSubnets": subnets,
                        "sagemaker:VpcSecurityGroupIds": [security_group],
                    },
                    "Null": {"sagemaker:VpcSubnets": "false"},
                    "StringEquals": {
                        "sagemaker:VolumeKmsKey": key_arn,
                        "sagemaker:OutputKmsKey": key_arn,
                    },
                },
            },
            {
                "Sid": "PassOnlyTheTrainingRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [role_arn],
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
            {
                "Sid": "WatchTrainingJobs",
                "Effect": "Allow",
                "Action": ["sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
                "Resource": [f"arn:aws:sagemaker:{j.region}:{args.account_id}:training-job/*"],
            },
        ],
    }


class DatasetPipeline(pulumi.ComponentResource):
    """The dataset bucket, the scan (state machine + two functions) and governed training."""

    def __init__(
        self,
        name: str,
        args: DatasetsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sovgw:datasets:DatasetPipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        j = args.jurisdiction
        self.bucket = self._bucket(name, args, child)
        bucket_arn = f"arn:aws:s3:::{j.datasets_bucket}"
        models_arn = f"arn:aws:s3:::{j.models_bucket}"
        self.training_role = service_role(
            f"{name}-training", "sagemaker.amazonaws.com", child, source_account=args.account_id
        )
        aws.iam.RolePolicy(
            f"{name}-training",
            role=self.training_role.id,
            policy=pulumi.Output.from_input(args.kms_key_arn).apply(
                lambda key: json.dumps(_training_statements(args, bucket_arn, models_arn, key))
            ),
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=self.bucket.id,
            policy=self.training_role.arn.apply(
                lambda role: json.dumps(_bucket_policy(bucket_arn, role))
            ),
            opts=child,
        )
        self.functions: dict[str, aws.lambda_.Function] = {}
        self.roles: dict[str, aws.iam.Role] = {"training": self.training_role}
        for declared in DATASET_FUNCTIONS:
            fn_name = function_name(j.id, declared.name)
            policy = pulumi.Output.all(
                args.audit_bucket_arn, args.kms_key_arn, args.budget_connect_arns
            ).apply(partial(_function_policy, declared.name, fn_name, args, bucket_arn))
            role = function_role(f"{name}-{declared.name}", policy, child)
            self.roles[declared.name] = role
            self.functions[declared.name] = private_function(
                f"{name}-{declared.name}",
                args,
                role,
                FunctionSpec(
                    function_name=fn_name,
                    handler=declared.handler,
                    environment={"SOVGW_JURISDICTION": j.id, **args.environment},
                    timeout_s=declared.timeout_seconds,
                    memory_mb=declared.memory_mb,
                    reserved_concurrency=declared.reserved_concurrency,
                ),
                child,
            )
        self.state_machine = self._state_machine(name, args, bucket_arn, child)
        resolved = pulumi.Output.all(
            self.training_role.arn,
            args.kms_key_arn,
            pulumi.Output.all(*args.subnet_ids),
            args.security_group_id,
        )
        self.training_template = resolved.apply(
            lambda v: json.dumps(training_job_template(args, v[0], v[1], list(v[2]), v[3]))
        )
        aws.ssm.Parameter(
            f"{name}-training-template",
            name=f"/sovgw/{j.id}/training-job-template",
            type="String",
            tier="Advanced",
            insecure_value=self.training_template,  # not secret: operators read it
            description="The CreateTrainingJob request fine-tuning starts from (governed)",
            opts=child,
        )
        self.launch_policy = aws.iam.Policy(
            f"{name}-training-launch",
            name=f"sovgw-{j.id}-training-launch",
            description="Start only governed training jobs (attach to the training pipeline)",
            policy=resolved.apply(
                lambda v: json.dumps(launch_policy(args, v[0], v[1], list(v[2]), v[3]))
            ),
            opts=child,
        )
        self.outputs: dict[str, pulumi.Output[object]] = {
            OUTPUT_DATASETS_BUCKET: self.bucket.bucket,
            OUTPUT_DATASET_STATE_MACHINE: self.state_machine.arn,
            OUTPUT_TRAINING_ROLE: self.training_role.arn,
            OUTPUT_TRAINING_LAUNCH_POLICY: self.launch_policy.arn,
            OUTPUT_TRAINING_TEMPLATE: self.training_template,
        }
        self.register_outputs(self.outputs)

    @staticmethod
    def _bucket(name: str, args: DatasetsArgs, child: pulumi.ResourceOptions) -> aws.s3.Bucket:
        """Versioned, SSE-KMS with the jurisdiction key, never public; raw, quarantined and
        rejected records expire (data minimisation), earlier versions soon after."""
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.jurisdiction.datasets_bucket,
            force_destroy=False,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True)),
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        private_and_encrypted(name, bucket, args.kms_key_arn, child)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": f"expire-{prefix.rstrip('/')}",
                    "status": "Enabled",
                    "filter": {"prefix": prefix},
                    "expiration": {"days": days},
                    "noncurrent_version_expiration": {"noncurrent_days": 7},
                }
                for prefix, days in RETENTION_DAYS.items()
            ],
            opts=child,
        )
        return bucket

    def _state_machine(
        self, name: str, args: DatasetsArgs, bucket_arn: str, child: pulumi.ResourceOptions
    ) -> aws.sfn.StateMachine:
        j = args.jurisdiction
        machine_name = dataset_state_machine_name(j.id)
        machine_arn = f"arn:aws:states:{j.region}:{args.account_id}:stateMachine:{machine_name}"
        scan, reconcile = self.functions[DATASET_SCAN], self.functions[DATASET_RECONCILE]
        role = service_role(
            f"{name}-scan-machine", "states.amazonaws.com", child, source_account=args.account_id
        )
        self.roles["scan-machine"] = role
        logs = aws.cloudwatch.LogGroup(
            f"{name}-scan-machine-logs",
            name=f"/aws/vendedlogs/states/{machine_name}",
            kms_key_id=args.kms_key_arn,
            retention_in_days=LOG_RETENTION_DAYS,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-scan-machine",
            role=role.id,
            policy=pulumi.Output.all(scan.arn, reconcile.arn, args.kms_key_arn).apply(
                lambda v: json.dumps(_machine_statements(machine_arn, bucket_arn, v[0], v[1], v[2]))
            ),
            opts=child,
        )
        return aws.sfn.StateMachine(
            f"{name}-scan-machine",
            name=machine_name,
            type="STANDARD",
            role_arn=role.arn,
            definition=pulumi.Output.all(scan.arn, reconcile.arn).apply(
                lambda v: json.dumps(dataset_scan_definition(j.datasets_bucket, v[0], v[1]))
            ),
            encryption_configuration={
                "type": "CUSTOMER_MANAGED_KMS_KEY",
                "kms_key_id": args.kms_key_arn,
                "kms_data_key_reuse_period_seconds": 300,
            },
            logging_configuration={
                "level": "ERROR",
                "include_execution_data": False,  # items name builds, results hold counts
                "log_destination": logs.arn.apply(lambda arn: f"{arn}:*"),
            },
            tracing_configuration={"enabled": True},
            opts=child,
        )


def _training_statements(
    args: DatasetsArgs, bucket_arn: str, models_arn: str, key_arn: str
) -> dict[str, Any]:
    """Read curated records (and list only their prefix), write the model to the models
    bucket, in the VPC; an explicit deny on every other prefix of the dataset bucket."""
    j = args.jurisdiction
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadCuratedOnly",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{CURATED}*"],
            },
            {
                "Sid": "ListCuratedOnly",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": [f"{CURATED}*"]}},
            },
            {
                "Sid": "NeverRawOrQuarantine",
                "Effect": "Deny",
                "Action": S3_OBJECT_ACTIONS,
                "Resource": [f"{bucket_arn}/{p}*" for p in NEVER_TRAINED_ON],
            },
            {
                "Sid": "WriteTheModel",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"{models_arn}/{TRAINING_OUTPUT}*"],
            },
            {
                "Sid": "JurisdictionKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"],
                "Resource": [key_arn],
            },
            {
                "Sid": "InTheVpc",
                "Effect": "Allow",
                "Action": [
                    *ENI_ACTIONS,
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterfacePermission",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeDhcpOptions",
                ],
                "Resource": ["*"],
            },
            {
                "Sid": "PullTheImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": ["*"],
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [
                    f"arn:aws:logs:{j.region}:{args.account_id}:log-group:/aws/sagemaker/TrainingJobs:*"
                ],
            },
        ],
    }


def _bucket_policy(bucket_arn: str, training_role_arn: str) -> dict[str, Any]:
    """TLS only, nothing written unencrypted, and the training role kept to ``curated/``
    here as well as in its own policy."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject"],
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyUnencryptedWrites",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:PutObject"],
                "Resource": [f"{bucket_arn}/*"],
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            },
            {
                "Sid": "TrainingReadsCuratedOnly",
                "Effect": "Deny",
                "Principal": {"AWS": training_role_arn},
                "Action": S3_OBJECT_ACTIONS,
                "NotResource": [f"{bucket_arn}/{CURATED}*"],
            },
        ],
    }


def _function_policy(
    fn: str, function_name_: str, args: DatasetsArgs, bucket_arn: str, resolved: list[Any]
) -> str:
    audit, key, budget = resolved
    statements = _function_statements(
        fn, function_name_, args, bucket_arn, audit=audit, key=key, budget=budget
    )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _function_statements(
    fn: str,
    function_name_: str,
    args: DatasetsArgs,
    bucket_arn: str,
    *,
    audit: str,
    key: str,
    budget: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """The scan reads raw parts and the build, writes its outputs and result, reads the
    dataset's key; the reconcile reads the build and results and writes the manifest."""
    j = args.jurisdiction
    statements = base_statements(j, args.account_id, function_name_, audit_arn=audit, key_arn=key)
    if fn == DATASET_SCAN:
        statements += [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/raw/*", f"{bucket_arn}/builds/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [
                    f"{bucket_arn}/{prefix}*"
                    for prefix in ("curated/", "quarantine/", "rejected/", "builds/")
                ],
            },
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [
                    f"arn:aws:secretsmanager:{j.region}:{args.account_id}:secret:"
                    f"sovgw/{j.id}/datasets/*"
                ],
            },
        ]
    else:
        statements += [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/builds/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"{bucket_arn}/manifests/*"],
            },
        ]
        if budget:  # audit anchors live in the shared store
            statements.append(
                {"Effect": "Allow", "Action": ["elasticache:Connect"], "Resource": list(budget)}
            )
    return statements


def _machine_statements(
    machine_arn: str, bucket_arn: str, scan_arn: str, reconcile_arn: str, key_arn: str
) -> dict[str, Any]:
    """Invoke the two functions, read the items file, run its own map's child executions,
    use the key its state is encrypted with, deliver its logs."""
    execution_arn = machine_arn.replace(":stateMachine:", ":execution:")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [scan_arn, f"{scan_arn}:*", reconcile_arn, f"{reconcile_arn}:*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/builds/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["states:StartExecution"],
                "Resource": [machine_arn],
            },
            {
                "Effect": "Allow",
                "Action": ["states:DescribeExecution", "states:StopExecution"],
                "Resource": [f"{execution_arn}:*"],
            },
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": [key_arn],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogDelivery",
                    "logs:GetLogDelivery",
                    "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                    "logs:DescribeLogGroups",
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                ],
                "Resource": ["*"],
            },
        ],
    }
