"""The technical measures of a jurisdiction, read from what is deployed (S3 and KMS), for the
Art. 30 record: each is in place only if the live configuration says so."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sovgw.config import Jurisdiction
from sovgw.domain.art30 import Measure
from sovgw.wiring import TAMPER_ACTIONS, TAMPER_DENY_SID


def _read(call: Callable[[], Any]) -> Any:
    """A live read, or None when it is refused or absent (which the measure reports)."""
    try:
        return call()
    except (ClientError, BotoCoreError):
        return None


def read_measures(s3: Any, kms: Any, ec2: Any, jurisdiction: Jurisdiction) -> list[Measure]:
    bucket = jurisdiction.audit_bucket
    found: list[Measure] = [_private_network(ec2, jurisdiction)]

    key = _read(lambda: kms.describe_key(KeyId=jurisdiction.kms_alias)["KeyMetadata"])
    rotation = _read(lambda: kms.get_key_rotation_status(KeyId=key["KeyId"])) if key else None
    rotating = bool(rotation and rotation.get("KeyRotationEnabled"))
    found.append(
        Measure(
            "encryption",
            f"Customer-managed KMS key {jurisdiction.kms_alias} for data at rest, rotated yearly",
            f"{key['KeyManager']} key, {key['KeyState']}, rotation {'on' if rotating else 'off'}"
            if key
            else "key not found",
            "live",
            bool(key and key["KeyManager"] == "CUSTOMER" and rotating),
        )
    )
    digest = _read(
        lambda: kms.describe_key(KeyId=jurisdiction.digest_signing_key_alias)["KeyMetadata"]
    )
    found.append(
        Measure(
            "integrity",
            "Audit digests signed with an asymmetric KMS key (verifiable with the public key)",
            f"{digest.get('KeySpec')} {digest.get('KeyUsage')}" if digest else "key not found",
            "live",
            bool(digest and digest.get("KeyUsage") == "SIGN_VERIFY"),
        )
    )
    lock = _read(lambda: s3.get_object_lock_configuration(Bucket=bucket))
    rule = ((lock or {}).get("ObjectLockConfiguration") or {}).get("Rule") or {}
    retention = rule.get("DefaultRetention") or {}
    period = f"{retention['Days']} days" if "Days" in retention else f"{retention.get('Years')} y"
    found.append(
        Measure(
            "integrity",
            f"Audit records immutable: S3 Object Lock on {bucket}",
            f"{retention.get('Mode')} {period}" if retention else "no Object Lock configuration",
            "live",
            retention.get("Mode") == "COMPLIANCE",
        )
    )
    versioning = _read(lambda: s3.get_bucket_versioning(Bucket=bucket)) or {}
    found.append(
        Measure(
            "integrity",
            "Every version of the audit trail kept (versioning); verify reads the history",
            f"versioning {versioning.get('Status', 'off')}",
            "live",
            versioning.get("Status") == "Enabled",
        )
    )
    encryption = _read(lambda: s3.get_bucket_encryption(Bucket=bucket)) or {}
    rules = (encryption.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or [{}]
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    found.append(
        Measure(
            "encryption",
            f"Audit bucket encrypted with the jurisdiction key (SSE-KMS) on {bucket}",
            f"{default.get('SSEAlgorithm', 'none')}",
            "live",
            default.get("SSEAlgorithm") == "aws:kms" and bool(default.get("KMSMasterKeyID")),
        )
    )
    policy = _read(lambda: s3.get_bucket_policy(Bucket=bucket))
    statements = json.loads(policy["Policy"]).get("Statement", []) if policy else []
    deny = next((s for s in statements if s.get("Sid") == TAMPER_DENY_SID), None)
    denied = set(deny.get("Action", [])) if deny else set()
    found.append(
        Measure(
            "access control",
            "Deletes and protection changes on evidence denied to all but the break-glass role",
            f"{len(denied & set(TAMPER_ACTIONS))}/{len(TAMPER_ACTIONS)} actions denied"
            if deny
            else "no tamper deny in the bucket policy",
            "live",
            denied >= set(TAMPER_ACTIONS),
        )
    )
    replication = _read(lambda: s3.get_bucket_replication(Bucket=bucket))
    replicated = [
        r
        for r in ((replication or {}).get("ReplicationConfiguration") or {}).get("Rules", [])
        if r.get("Status") == "Enabled"
        and (r.get("DeleteMarkerReplication") or {}).get("Status") == "Disabled"
        and (r.get("Destination") or {}).get("Account")
    ]
    found.append(
        Measure(
            "resilience",
            "Evidence replicated to a locked bucket of a separate log-archive account",
            f"{len(replicated)} enabled cross-account rule(s), delete markers not replicated"
            if replicated
            else f"no replication configuration on {bucket}",
            "live",
            bool(replicated),
        )
    )
    return found


def _private_network(ec2: Any, jurisdiction: Jurisdiction) -> Measure:
    """The jurisdiction's VPC (tagged by the stack) has no internet or NAT gateway, and
    reaches AWS services through VPC endpoints."""
    name = f"sovgw-{jurisdiction.id}-vpc"
    vpcs = _read(
        lambda: ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
    )
    measure = "Private network: no internet or NAT gateway; AWS services through VPC endpoints"
    if not vpcs:
        return Measure("network", measure, f"no VPC tagged {name} found", "live", False)
    vpc = vpcs[0]["VpcId"]
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    gateways = _read(
        lambda: ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}]
        )["InternetGateways"]
    )
    nats = _read(lambda: ec2.describe_nat_gateways(Filter=by_vpc)["NatGateways"])
    endpoints = _read(lambda: ec2.describe_vpc_endpoints(Filters=by_vpc)["VpcEndpoints"]) or []
    closed = gateways == [] and not [n for n in nats or [] if n.get("State") != "deleted"]
    return Measure(
        "network",
        measure,
        f"{vpc}: {len(gateways or [])} internet gateway(s), {len(nats or [])} NAT gateway(s), "
        f"{len(endpoints)} VPC endpoint(s)",
        "live",
        closed and nats is not None,
    )
