"""Auditor tooling over one jurisdiction's audit bucket: seal, verify, trace, report."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import boto3

from sovgw.adapters.audit_store import S3AuditStore
from sovgw.config import GatewayConfig, Jurisdiction
from sovgw.domain.art30 import Art30Record, build_art30
from sovgw.domain.audit import AuditRecord
from sovgw.ports import AuditAnchors


def open_store(jurisdiction: Jurisdiction, anchors: AuditAnchors | None = None) -> S3AuditStore:
    """The jurisdiction's audit store; ``anchors`` only for sealing (verifying reads S3 alone,
    so an auditor needs no access to the VPC's store)."""
    session = boto3.session.Session(region_name=jurisdiction.region)
    return S3AuditStore(
        session.client("s3"),
        session.client("kms"),
        jurisdiction.audit_bucket,
        jurisdiction.digest_signing_key_alias,
        anchors,
    )


def all_records(store: S3AuditStore, jurisdiction: Jurisdiction) -> Iterator[AuditRecord]:
    for stream in store.streams(jurisdiction.id):
        for stored in store.current_records(stream).values():
            if stored.body is not None:
                yield AuditRecord.model_validate_json(stored.body)


def _link_values(record: AuditRecord) -> set[str]:
    values: set[str] = {record.record_id}
    for value in record.links.model_dump().values():
        if isinstance(value, str):
            values.add(value)
        elif isinstance(value, list | tuple):
            values.update(str(v) for v in value)
    return values


def trace(store: S3AuditStore, jurisdiction: Jurisdiction, identifier: str) -> list[AuditRecord]:
    """Every record linked to ``identifier`` (Salesforce record/event/result id, EventBridge
    event id, AWS request id or audit record id), with the whole journey of each request."""
    records = list(all_records(store, jurisdiction))
    direct = [r for r in records if identifier in _link_values(r)]
    journeys = {r.links.salesforce_event_uuid for r in direct if r.links.salesforce_event_uuid}
    related = [r for r in records if r.links.salesforce_event_uuid in journeys]
    unique = {r.record_id: r for r in direct + related}
    return sorted(unique.values(), key=lambda r: (r.time, r.stage.value))


def cloudtrail_events(s3: Any, bucket: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """CloudTrail log files (documented format: gzip JSON with ``Records``) by ``requestID``."""
    by_request: dict[str, list[dict[str, Any]]] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith((".json.gz", ".json")):
                continue
            raw = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            data = gzip.decompress(raw) if item["Key"].endswith(".gz") else raw
            for event in json.loads(data).get("Records", []):
                if event.get("requestID"):
                    by_request.setdefault(event["requestID"], []).append(event)
    return by_request


def deleters(s3: Any, bucket: str, prefix: str, audit_bucket: str) -> dict[str, str]:
    """Who set each delete marker in ``audit_bucket``: object key → principal ARN, from
    CloudTrail's S3 data events (``DeleteObject``/``DeleteObjects``) in its log files."""
    found: dict[str, str] = {}
    for events in cloudtrail_events(s3, bucket, prefix).values():
        for event in events:
            parameters = event.get("requestParameters") or {}
            if event.get("eventName") not in {"DeleteObject", "DeleteObjects"}:
                continue
            if parameters.get("bucketName") != audit_bucket:
                continue
            keys = [parameters.get("key")] + [
                o.get("Key") for o in (parameters.get("Delete") or {}).get("Object", [])
            ]
            principal = (event.get("userIdentity") or {}).get("arn", "unknown principal")
            found |= {key: principal for key in keys if key}
    return found


def retention_of(store: S3AuditStore) -> str:
    s3 = store.s3
    try:
        rule = s3.get_object_lock_configuration(Bucket=store.bucket)["ObjectLockConfiguration"][
            "Rule"
        ]
    except Exception:
        return "unknown (no Object Lock configuration readable)"
    retention = rule["DefaultRetention"]
    period = (
        f"{retention['Days']} days" if "Days" in retention else f"{retention.get('Years')} years"
    )
    return f"S3 Object Lock {retention['Mode']}, {period} per record version, bucket {store.bucket}"


def art30(config: GatewayConfig, jurisdiction: Jurisdiction) -> Art30Record:
    store = open_store(jurisdiction)
    orgs = [f"{o.name} ({o.org_id})" for o in config.orgs_of(jurisdiction.id)]
    return build_art30(jurisdiction, orgs, all_records(store, jurisdiction), retention_of(store))
