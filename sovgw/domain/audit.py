"""Audit records: what happened to a request, never the data itself (issue #7 adds chaining).

Record ids are derived from the Salesforce event and the stage, so a replayed or retried
event produces the same record id and the sink can write it at most once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sovgw.domain.anomaly import Flag, containment_of, suspendable
from sovgw.domain.levels import DataLevel
from sovgw.domain.query_log import SalesforceCall

# 1.3: salesforce_call records (the query log); 1.4: dataset; 1.5: outcome upstream_truncated;
# 1.6: anomaly records (a flag and its containment, or the containment lifted)
AUDIT_SCHEMA_VERSION = "1.6"
_AUDIT_NAMESPACE = uuid.UUID("6f1c1d2e-6a43-4d2b-9c0e-3c1b8f0e5a77")


class Stage(StrEnum):
    CLASSIFICATION = "classification"
    ROUTING = "routing"
    MODEL_INVOCATION = "model_invocation"
    WRITE_BACK = "write_back"
    REJECTION = "rejection"
    CREDENTIAL_ROTATION = "credential_rotation"
    BREAK_GLASS = "break_glass"
    RELAY = "relay"  # a relay gap opened or closed, or a replay put missed events back
    SALESFORCE_CALL = "salesforce_call"  # one query-log entry: a call the gateway made
    DATASET = "dataset"  # a training dataset build's export, scan (manifest) or verification
    ANOMALY = "anomaly"  # a query-log anomaly and the containment it set, or its lifting


class Outcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    REJECTED = "rejected"
    FAILED = "failed"
    # A model's stream that ended (or broke) before it finished: the caller got part of an
    # answer and an error event, never a short answer passed off as whole.
    UPSTREAM_TRUNCATED = "upstream_truncated"


class AuditLinks(BaseModel):
    """Identifiers that join this record with CloudTrail, X-Ray, EventBridge and Salesforce."""

    model_config = ConfigDict(frozen=True)

    eventbridge_event_id: str | None = None
    salesforce_event_uuid: str | None = None
    salesforce_replay_id: str | None = None
    salesforce_record_id: str | None = None
    salesforce_result_id: str | None = None
    lambda_request_id: str | None = None
    xray_trace_id: str | None = None
    aws_request_ids: tuple[str, ...] = ()


class SalesforceCallFacts(BaseModel):
    """What a Salesforce call read or wrote, measured (the query log; never its values)."""

    model_config = ConfigDict(frozen=True)

    lane: str
    grant_id: str | None = None
    method: str
    resource: str
    sobject: str | None = None
    soql: str | None = None  # literals removed
    soql_sha256: str | None = None
    status: int
    rows: int | None = None
    bytes: int
    latency_ms: float


class DatasetFacts(BaseModel):
    """One step of a dataset build: what it applied and counted (never a value)."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    sobject: str
    version: str
    definition_sha256: str
    build_id: str
    action: str  # export, scan, verify
    bulk_jobs: tuple[str, ...] = ()
    totals: dict[str, int] = Field(default_factory=dict)
    reasons: dict[str, int] = Field(default_factory=dict)
    manifest_sha256: str | None = None
    detail: str | None = None


class AnomalyFacts(BaseModel):
    """A detector's flag on the query log and what was done about it (counts and names)."""

    model_config = ConfigDict(frozen=True)

    kind: str  # volume, drip, field_sweep, sensitive_object; "lifted" for a lifting
    sobject: str | None = None
    hour: datetime | None = None  # the start of the hour flagged
    detail: str
    containment: str  # the step taken: the lanes suspended, or lifted


class AuditRecord(BaseModel):
    """One decision or side effect, with who, what (categories only), where, why and links."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = AUDIT_SCHEMA_VERSION
    record_id: str
    stage: Stage
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    jurisdiction: str
    org_id: str | None = None
    principal: str | None = None
    purpose: str | None = None
    data_level: DataLevel | None = None
    entity_counts: dict[str, int] = Field(default_factory=dict)
    fields_used: tuple[str, ...] = ()
    region: str | None = None
    endpoint: str | None = None
    rule_id: str | None = None
    reason: str | None = None
    policy_version: str | None = None
    residual_level: DataLevel | None = None
    candidates: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    outcome: Outcome
    prompt_sha256: str | None = None
    output_removed: dict[str, int] = Field(default_factory=dict)
    salesforce_call: SalesforceCallFacts | None = None
    dataset: DatasetFacts | None = None
    anomaly: AnomalyFacts | None = None
    links: AuditLinks = Field(default_factory=AuditLinks)


def audit_record_id(correlation_key: str, stage: Stage) -> str:
    """Deterministic id for (event, stage): retries and replays map to the same record."""
    return str(uuid.uuid5(_AUDIT_NAMESPACE, f"{correlation_key}/{stage.value}"))


_ORG_IN_SOURCE = re.compile(
    r"^(?:aws\.partner|sovgw\.replay)/salesforce\.com/(00D[a-zA-Z0-9]{12,15})/"
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def salesforce_call_record(call: SalesforceCall, jurisdiction: str) -> AuditRecord:
    """The audit record of one query-log entry (a new id each: a retried call is another
    call Salesforce answered)."""
    return AuditRecord(
        record_id=str(uuid.uuid4()),
        stage=Stage.SALESFORCE_CALL,
        jurisdiction=jurisdiction,
        org_id=call.org_id,
        principal=call.principal,
        purpose=call.purpose,
        fields_used=call.fields,
        outcome=Outcome.OK if call.status < 400 else Outcome.FAILED,
        links=AuditLinks(
            salesforce_event_uuid=call.event_uuid
            if call.event_uuid and _UUID.match(call.event_uuid)
            else None
        ),
        salesforce_call=SalesforceCallFacts(
            lane=call.lane,
            grant_id=call.grant_id,
            method=call.method,
            resource=call.resource,
            sobject=call.sobject,
            soql=call.soql,
            soql_sha256=call.soql_sha256,
            status=call.status,
            rows=call.rows,
            bytes=call.bytes,
            latency_ms=call.latency_ms,
        ),
    )


def anomaly_record(flag: Flag, jurisdiction: str) -> AuditRecord:
    """The record of a flag and the containment step it set (outcome ``denied`` when the
    principal's non-emergency work is refused from now on; break-glass work never is)."""
    return AuditRecord(
        record_id=str(uuid.uuid4()),
        stage=Stage.ANOMALY,
        jurisdiction=jurisdiction,
        org_id=flag.org_id,
        principal=flag.principal,
        reason=f"anomaly {flag.kind} on {flag.sobject}: {flag.detail}",
        outcome=Outcome.DENIED if suspendable(flag.principal) else Outcome.OK,
        anomaly=AnomalyFacts(
            kind=flag.kind,
            sobject=flag.sobject,
            hour=flag.hour,
            detail=flag.detail,
            containment=containment_of(flag.principal),
        ),
    )


def lifting_record(
    org_id: str, principal: str, jurisdiction: str, reason: str, suspended_by: str
) -> AuditRecord:
    """The record of an operator lifting a suspension (``sovgw anomaly lift``): why, and
    the flag's record it answers."""
    return AuditRecord(
        record_id=str(uuid.uuid4()),
        stage=Stage.ANOMALY,
        jurisdiction=jurisdiction,
        org_id=org_id,
        principal=principal,
        reason=reason[:1000],
        outcome=Outcome.OK,
        anomaly=AnomalyFacts(
            kind="lifted",
            detail=f"suspension set by audit record {suspended_by} lifted",
            containment="non-emergency lanes open again",
        ),
    )


def rejection_record(
    function: str, event: Mapping[str, Any], reason: str, jurisdiction: str
) -> AuditRecord:
    """The record of an event refused before it could be processed (the reason names fields
    and rules, never values; identifiers are taken only when they have the expected shape)."""
    source = event.get("source")
    org = _ORG_IN_SOURCE.match(source) if isinstance(source, str) else None
    detail = event.get("detail")
    event_uuid = detail.get("id") if isinstance(detail, Mapping) else None
    event_id = str(event.get("id", "unknown"))[:128]
    return AuditRecord(
        record_id=audit_record_id(f"{event_id}/{function}", Stage.REJECTION),
        stage=Stage.REJECTION,
        jurisdiction=jurisdiction,
        org_id=org.group(1) if org else None,
        reason=f"{function}: {reason}"[:1000],
        outcome=Outcome.REJECTED,
        links=AuditLinks(
            eventbridge_event_id=event_id,
            salesforce_event_uuid=event_uuid
            if isinstance(event_uuid, str) and _UUID.match(event_uuid)
            else None,
        ),
    )
