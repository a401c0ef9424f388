"""Auditor tooling over one jurisdiction's audit bucket: seal, verify, trace, report."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from sovgw.adapters.audit_store import S3AuditStore
from sovgw.adapters.aws.measures import read_measures
from sovgw.config import GatewayConfig, Jurisdiction
from sovgw.domain.art30 import Art30Report, ChainResult, ErasureLimit, Measure, build_art30
from sovgw.domain.audit import AuditRecord
from sovgw.domain.minimise import PURPOSES
from sovgw.ports import AuditAnchors
from sovgw.wiring import RETENTION, SCHEDULES


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


def all_records(
    store: S3AuditStore, jurisdiction: Jurisdiction, streams: Iterable[str] | None = None
) -> Iterator[AuditRecord]:
    """The records of every stream of the jurisdiction, or of ``streams`` only."""
    for stream in store.streams(jurisdiction.id) if streams is None else streams:
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


def _limit(days: float) -> str:
    return f"{round(days * 24)} hours" if days < 1 else f"{days:g} days"


def erasure_limits(store: S3AuditStore) -> list[ErasureLimit]:
    """How long each store of the deployment keeps what it holds (``sovgw.wiring.RETENTION``),
    the audit trail's own lock as read from its bucket, and what the gateway does not keep."""
    limits = [ErasureLimit(r.store, r.holds, _limit(r.days), r.erasure) for r in RETENTION]
    return [
        ErasureLimit(
            "Prompts and model answers",
            "minimised, pseudonymised text of the fields a purpose reads",
            "not stored",
            "held in memory for one request; the audit record keeps a SHA-256 of the prompt",
        ),
        ErasureLimit(
            "AI results (AI_Result__c in the org)",
            "the model's answer, written back to Salesforce",
            "the controller's Salesforce retention",
            "deleted in Salesforce by the controller; the gateway keeps no copy",
        ),
        *limits,
        ErasureLimit(
            "Audit trail (S3 Object Lock, KMS)",
            "decisions with categories and counts, never values",
            retention_of(store),
            "immutable until the lock ends; then deletable by the break-glass role only",
        ),
    ]


def declared_measures(jurisdiction: Jurisdiction) -> list[Measure]:
    """Measures the code and policy declare (the deployment runs them as declared)."""
    grants = jurisdiction.policy.break_glass
    return [
        Measure(
            "minimisation",
            "Each purpose reads only its allow-listed fields; personal data is found and "
            "masked or pseudonymised before any model sees it",
            f"{len(PURPOSES)} purposes with field allow-lists (sovgw/domain/minimise.py)",
            "declared",
            True,
        ),
        Measure(
            "access control",
            "Break-glass emergency access: approved by a second person, time-bound, revoked "
            "automatically at expiry",
            f"at most {grants.max_duration_minutes} min per grant, approval within "
            f"{grants.approval_timeout_minutes} min (routing policy {jurisdiction.policy.version})",
            "declared",
            True,
        ),
        Measure(
            "integrity",
            "Audit trail sealed every period, empty or not; jurisdiction manifest; each record "
            "anchored when written",
            f"sealer schedule {SCHEDULES['seal']} (sovgw/wiring.py)",
            "declared",
            True,
        ),
    ]


def policy_measures(path: Path | None, jurisdiction: Jurisdiction) -> list[Measure]:
    """The policy pack's results for this stack (``python -m infra.policy.evaluate``)."""
    if path is None:
        return [
            Measure(
                "policy pack",
                "Policy pack sovgw-sovereignty over the stack (region, network, keys, evidence)",
                "no results given (--policy-results, from python -m infra.policy.evaluate)",
                "policy pack",
                False,
            )
        ]
    results = json.loads(path.read_text(encoding="utf-8"))
    if results.get("stack") != jurisdiction.id:
        raise ValueError(f"{path} holds the results of stack {results.get('stack')!r}")
    return [
        Measure(
            "policy pack",
            f"{check['name']}: {check['description']}",
            f"passed over {results['resources']} resources ({results['evaluated_at'][:10]})"
            if not check["violations"]
            else "; ".join(check["violations"][:3]),
            "policy pack",
            not check["violations"],
        )
        for check in results["checks"]
    ]


def _chain(
    store: S3AuditStore, stream: str, since: datetime | None, until: datetime | None
) -> ChainResult:
    result = store.verify(stream, since, until)
    return ChainResult(
        stream,
        result.ok,
        result.digests,
        result.records,
        result.unsealed,
        tuple(str(p) for p in result.problems),
    )


def art30(
    config: GatewayConfig,
    jurisdiction: Jurisdiction,
    *,
    org: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    policy_results: Path | None = None,
) -> Art30Report:
    """The record of processing for the jurisdiction (one org's with ``org``) in the period,
    with the deployment's measures read live and the chain verified for the same period."""
    store = open_store(jurisdiction)
    session = boto3.session.Session(region_name=jurisdiction.region)
    streams = [
        s for s in store.streams(jurisdiction.id) if org is None or s.split("/")[1][:15] == org[:15]
    ]
    return build_art30(
        jurisdiction,
        config.orgs_of(jurisdiction.id),
        all_records(store, jurisdiction, streams),
        generated=datetime.now(UTC),
        since=since,
        until=until,
        org=org,
        erasure=erasure_limits(store),
        measures=[
            *read_measures(store.s3, session.client("kms"), session.client("ec2"), jurisdiction),
            *declared_measures(jurisdiction),
            *policy_measures(policy_results, jurisdiction),
        ],
        chain=[_chain(store, stream, since, until) for stream in streams],
    )
