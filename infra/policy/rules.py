"""The sovereignty invariants as Pulumi policies: pure functions over a resource's type and
properties, so the pack (``infra/policy``) and the tests run the same code.

Each check returns the violations it finds (empty: compliant)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
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


EVIDENCE_BUCKET_PREFIXES = ("sovgw-audit-", "sovgw-trail-", "sovgw-log-archive-")


def audit_bucket_locked(resource_type: str, props: Mapping[str, Any], region: str) -> list[str]:
    """Evidence buckets are created with Object Lock, and lock in COMPLIANCE mode."""
    evidence = str(props.get("bucket", "")).startswith(EVIDENCE_BUCKET_PREFIXES)
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
    """Every bucket policy but the dataset bucket's (the others guard evidence) denies hiding
    an object or loosening its protection to all principals but one named break-glass role."""
    if resource_type != "aws:s3/bucketPolicy:BucketPolicy":
        return []
    raw = props.get("policy")
    document = json.loads(raw) if isinstance(raw, str) else raw or {}
    guarded = {
        r
        for s in document.get("Statement") or []
        for r in _listed(s.get("Resource") or s.get("NotResource"))
    }
    if guarded and all(_DATASETS_ARN.match(r) for r in guarded):
        return []  # the dataset bucket is not evidence: superseded raw parts are deleted
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


_DATASETS_ARN = re.compile(r"^arn:aws:s3:::sovgw-datasets-[a-z0-9-]+")
_TRAINING_NEVER_READS = ("raw/", "quarantine/", "rejected/")
_LAUNCH_CONDITIONS = {
    ("Bool", "sagemaker:NetworkIsolation"),
    ("ForAllValues:StringEquals", "sagemaker:VpcSubnets"),
    ("StringEquals", "sagemaker:VolumeKmsKey"),
    ("StringEquals", "sagemaker:OutputKmsKey"),
}


def _statements(raw: Any) -> list[Mapping[str, Any]]:
    document = json.loads(raw) if isinstance(raw, str) else raw or {}
    statements = document.get("Statement") or []
    return statements if isinstance(statements, list) else [statements]


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value] if value else [])]


def training_governed(resource_type: str, props: Mapping[str, Any], region: str) -> list[str]:
    """Training reads only curated records (never raw, quarantined or rejected ones), and
    the only training job anyone may start runs in the VPC, network-isolated, with the
    jurisdiction's key on its volume and output, writing to the jurisdiction's models bucket."""
    found: list[str] = []
    if resource_type == "aws:ssm/parameter:Parameter" and str(props.get("name", "")).endswith(
        "/training-job-template"
    ):
        found += _template_problems(json.loads(str(props.get("insecureValue") or "{}")), region)
    if resource_type in {"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"}:
        statements = _statements(props.get("policy"))
        found += _curated_reader_problems(statements)
        found += _launch_problems(statements)
    return found


def _template_problems(template: Mapping[str, Any], region: str) -> list[str]:
    found = []
    if template.get("EnableNetworkIsolation") is not True:
        found.append("training template without network isolation")
    vpc = template.get("VpcConfig") or {}
    if not vpc.get("Subnets") or not vpc.get("SecurityGroupIds"):
        found.append("training template outside the VPC")
    if not (template.get("ResourceConfig") or {}).get("VolumeKmsKeyId"):
        found.append("training template without a KMS key on its volume")
    output = template.get("OutputDataConfig") or {}
    if not output.get("KmsKeyId"):
        found.append("training template without a KMS key on its output")
    if not str(output.get("S3OutputPath", "")).startswith("s3://sovgw-models-"):
        found.append("training output outside the jurisdiction's models bucket")
    for channel in template.get("InputDataConfig") or ():
        uri = str(((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri", ""))
        if not re.match(r"^s3://sovgw-datasets-[a-z0-9-]+/curated/", uri):
            found.append(f"training input {uri!r} is not a curated prefix")
    image = str((template.get("AlgorithmSpecification") or {}).get("TrainingImage", ""))
    if f".dkr.ecr.{region}.amazonaws.com/" not in image:
        found.append("training image not pulled from the stack's region")
    return found


def _curated_reader_problems(statements: list[Mapping[str, Any]]) -> list[str]:
    """A policy that reads curated records (training) reads nothing else of the bucket, and
    denies the other prefixes explicitly."""
    reads = [
        resource
        for s in statements
        if s.get("Effect") == "Allow" and "s3:GetObject" in _listed(s.get("Action"))
        for resource in _listed(s.get("Resource"))
        if _DATASETS_ARN.match(resource)
    ]
    if not any(_DATASETS_ARN.sub("", r).startswith("/curated/") for r in reads):
        return []
    found = [f"a training reader also reads {r}" for r in reads if "/curated/" not in r]
    denied = {
        _DATASETS_ARN.sub("", r).lstrip("/")
        for s in statements
        if s.get("Effect") == "Deny" and "s3:GetObject" in _listed(s.get("Action"))
        for r in _listed(s.get("Resource"))
        if _DATASETS_ARN.match(r)
    }
    found += [
        f"a training reader is not denied {prefix}"
        for prefix in _TRAINING_NEVER_READS
        if f"{prefix}*" not in denied
    ]
    return found


def _launch_problems(statements: list[Mapping[str, Any]]) -> list[str]:
    found = []
    for statement in statements:
        if statement.get("Effect") != "Allow" or "sagemaker:CreateTrainingJob" not in _listed(
            statement.get("Action")
        ):
            continue
        conditions = statement.get("Condition") or {}
        present = {(op, key) for op, keys in conditions.items() for key in keys}
        missing = sorted(key for _, key in _LAUNCH_CONDITIONS - present)
        if missing:
            found.append(f"CreateTrainingJob allowed without conditions on {', '.join(missing)}")
        if str((conditions.get("Bool") or {}).get("sagemaker:NetworkIsolation")) != "true":
            found.append("CreateTrainingJob allowed without network isolation")
    return found


# What must reach the log-archive account: every digest, manifest and record of the audit
# bucket, and CloudTrail's log and digest files.
REPLICATED_PREFIXES = frozenset({"digests/", "manifests/", "records/", "AWSLogs/"})
_AUDIT_BUCKET = re.compile(r"^sovgw-audit-(?P<jurisdiction>[a-z0-9-]+)$")
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/")
Resources = Sequence[tuple[str, Mapping[str, Any]]]
StackCheck = Callable[[Resources, str], list[str]]


def evidence_replicated(resources: Resources, region: str) -> list[str]:
    """The audit and CloudTrail evidence replicate, every new version, to an Object Lock bucket
    in the stack that another account owns; delete markers are not replicated."""
    jurisdictions = [
        audit_bucket["jurisdiction"]
        for resource_type, props in resources
        if resource_type == "aws:s3/bucket:Bucket"
        and (audit_bucket := _AUDIT_BUCKET.match(str(props.get("bucket", ""))))
    ]
    locked = {
        f"arn:aws:s3:::{props.get('bucket')}"
        for resource_type, props in resources
        if resource_type == "aws:s3/bucket:Bucket" and props.get("objectLockEnabled")
    }
    configs = [
        props
        for resource_type, props in resources
        if resource_type == "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
    ]
    found: list[str] = []
    for jurisdiction in jurisdictions:
        role_suffix = f":role/sovgw-{jurisdiction}-evidence-replication"
        mine = [c for c in configs if str(c.get("role", "")).endswith(role_suffix)]
        covered: set[str] = set()
        for config in mine:
            account = _ROLE_ACCOUNT.match(str(config.get("role")))
            for rule in config.get("rules") or ():
                problems = _replication_rule_problems(rule, account["account"] if account else "")
                problems += (
                    []
                    if (rule.get("destination") or {}).get("bucket") in locked
                    else ["replicates to a bucket without Object Lock, or outside the stack"]
                )
                found += [f"evidence replication rule {rule.get('id')}: {p}" for p in problems]
                if not problems:
                    covered.add(str((rule.get("filter") or {}).get("prefix")))
        found += [
            f"{jurisdiction}: evidence under {prefix} is not replicated to a log-archive account"
            for prefix in sorted(REPLICATED_PREFIXES - covered)
        ]
    return found


def _replication_rule_problems(rule: Mapping[str, Any], source_account: str) -> list[str]:
    destination = rule.get("destination") or {}
    problems = []
    if rule.get("status") != "Enabled":
        problems.append("is not enabled")
    if (rule.get("deleteMarkerReplication") or {}).get("status") != "Disabled":
        problems.append("replicates delete markers (a hidden object would be hidden twice)")
    if not destination.get("account") or destination.get("account") == source_account:
        problems.append("the archive is not another account")
    if (destination.get("accessControlTranslation") or {}).get("owner") != "Destination":
        problems.append("replicas are not owned by the archive account")
    return problems


STACK_CHECKS: dict[str, tuple[str, StackCheck]] = {
    "evidence-replicated": (
        "audit and CloudTrail evidence copied to a locked bucket of a log-archive account",
        evidence_replicated,
    ),
}


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
    "training-governed": (
        "training reads curated records only, in the VPC, isolated, KMS-encrypted, in region",
        training_governed,
    ),
}
