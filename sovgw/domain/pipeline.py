"""The two pipeline stages the foundation wires end to end: classify, then route and invoke."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from typing import Any

from sovgw.config import GatewayConfig, Jurisdiction, ModelEndpoint
from sovgw.domain import dlp
from sovgw.domain.audit import AuditLinks, AuditRecord, Outcome, Stage, audit_record_id
from sovgw.domain.canaries import ANSWER_WITHHELD, NO_CANARIES, CanaryWatch, Sighting
from sovgw.domain.errors import RejectedInput, SovereigntyViolation
from sovgw.domain.failover import BreakerBoard, call_with_failover
from sovgw.domain.levels import DataLevel, highest
from sovgw.domain.minimise import fields_for, object_for_record, relevant_segments
from sovgw.domain.pseudonymise import (
    PlaceholderTable,
    pseudonymise,
    residual_level,
    restore,
    scan_output,
)
from sovgw.domain.requests import AIRequest, ClassifiedRequest
from sovgw.domain.routing import RouteDecision, RouteQuery, decide_route
from sovgw.domain.write_back import AIResult, ResultStatus
from sovgw.ports import AuditSink, CrmRecords, MappingVault, ModelInvoker, ModelReply

SYSTEM_PROMPT = (
    "You assist a legal and HR team. Placeholders such as [EMAIL_1] stand for removed personal "
    "data: keep them as they are and never guess their values."
)


def resolve_jurisdiction(config: GatewayConfig, org_id: str, served: Jurisdiction) -> Jurisdiction:
    """The jurisdiction an org belongs to, if this deployment serves it; otherwise refuse."""
    org = config.org(org_id)
    if org is None:
        raise RejectedInput(f"org {org_id} is not bound to any jurisdiction of this deployment")
    if org.jurisdiction != served.id:
        raise RejectedInput(
            f"org {org_id} belongs to {org.jurisdiction}, not to {served.id}; refusing to process"
        )
    return served


def _record(
    request: AIRequest, jurisdiction: Jurisdiction, stage: Stage, level: DataLevel, **fields: Any
) -> AuditRecord:
    """An audit record for ``stage`` of ``request``, with the fields every stage shares."""
    fields.setdefault("links", _links(request))
    return AuditRecord(
        record_id=audit_record_id(request.event_uuid, stage),
        stage=stage,
        jurisdiction=jurisdiction.id,
        org_id=request.org_id,
        principal=request.requested_by,
        purpose=request.purpose,
        data_level=level,
        **fields,
    )


def _links(request: AIRequest, **extra: object) -> AuditLinks:
    return AuditLinks(
        eventbridge_event_id=request.eventbridge_event_id,
        salesforce_event_uuid=request.event_uuid,
        salesforce_replay_id=request.replay_id,
        salesforce_record_id=request.record_id,
        **extra,
    )


def mapping_context(request: AIRequest, jurisdiction: Jurisdiction) -> dict[str, str]:
    """What a sealed mapping is bound to: this event, org and jurisdiction only."""
    return {
        "event_uuid": request.event_uuid,
        "org_id": request.org_id,
        "jurisdiction": jurisdiction.id,
    }


def classify_request(
    request: AIRequest,
    jurisdiction: Jurisdiction,
    crm: CrmRecords,
    audit: AuditSink,
    vault: MappingVault,
) -> ClassifiedRequest:
    """Read only what the purpose needs, find sensitive content, pseudonymise it, seal the
    mapping, and record why."""
    sobject = object_for_record(request.record_id)
    spec, fields = fields_for(request.purpose, sobject)
    record = crm.get_record(sobject, request.record_id, fields)
    metadata = crm.field_levels(sobject)

    table = PlaceholderTable()
    table.reserve_literals(" ".join(str(v) for v in record.values() if v is not None))
    findings_total: Counter[str] = Counter()
    levels: list[DataLevel] = []
    residual_levels: list[DataLevel] = []
    lines: list[str] = []
    for field in fields:
        levels.append(metadata.get(field, DataLevel.PRIVILEGED))
        residual_levels.append(levels[-1])
        value = record.get(field)
        if value is None:
            continue
        text = relevant_segments(str(value), spec.max_chars_per_field, spec.keywords)
        findings = dlp.detect(text)
        for finding in findings:
            findings_total[finding.entity.value] += 1
            levels.append(dlp.ENTITY_LEVELS[finding.entity])
        residual_levels.append(residual_level(findings))
        lines.append(f"{field}: {pseudonymise(text, findings, table)}")

    minimised = "\n".join(lines)
    classified = ClassifiedRequest(
        request=request,
        jurisdiction=jurisdiction.id,
        sobject=sobject,
        level=highest(levels),
        residual_level=highest(residual_levels),
        entity_counts=dict(findings_total),
        fields_used=fields,
        instruction=spec.instruction,
        minimised_text=minimised,
        prompt_sha256=hashlib.sha256(minimised.encode()).hexdigest(),
        sealed_mapping=vault.seal(table.mapping, mapping_context(request, jurisdiction))
        if table.mapping
        else None,
    )
    audit.write(
        _record(
            request,
            jurisdiction,
            Stage.CLASSIFICATION,
            classified.level,
            entity_counts=classified.entity_counts,
            fields_used=fields,
            outcome=Outcome.OK,
            prompt_sha256=classified.prompt_sha256,
        )
    )
    return classified


def route_and_invoke(
    classified: ClassifiedRequest,
    jurisdiction: Jurisdiction,
    *,
    model: ModelInvoker,
    crm: CrmRecords,
    audit: AuditSink,
    vault: MappingVault,
    breakers: BreakerBoard,
    canaries: CanaryWatch = NO_CANARIES,
    on_canary: Callable[[Sighting, str], None] | None = None,
) -> dict[str, object]:
    """Decide where the request may go, call that model (failing over only among the endpoints
    the decision allows), write the result back, audit each step.

    A denial is an outcome, not an error: Salesforce gets a ``Denied`` result with the reason.
    When no allowed endpoint is healthy, ``NoHealthyEndpoint`` (retryable) leaves the event in
    its queue.
    """
    request = classified.request
    decision = decide_route(
        RouteQuery(
            level=classified.level,
            residual_level=classified.residual_level,
            purpose=request.purpose,
        ),
        jurisdiction,
    )
    routing_record = audit.write(
        _record(
            request,
            jurisdiction,
            Stage.ROUTING,
            classified.level,
            region=decision.endpoint.region if decision.endpoint else None,
            endpoint=decision.endpoint.name if decision.endpoint else None,
            prompt_sha256=classified.prompt_sha256,
            **decision_fields(decision),
        )
    )

    about = {
        "related_record": request.record_id,
        "request_event_id": request.event_uuid,
        "purpose": request.purpose,
        "data_level": classified.level.value,
        "policy_rule": decision.rule_id,
    }
    aws_request_ids: tuple[str, ...] = ()
    prompt = f"{classified.instruction}\n\n{classified.minimised_text}"
    sighting = (
        canaries.seen(prompt, "external_prompt") if canaries and decision.reaches_external else None
    )
    answered: Sighting | None = None
    if sighting is not None:  # a leak canary bound for a vendor: nothing is sent
        reason = _raise_canary(
            request, jurisdiction, classified.level, sighting, audit=audit, on_canary=on_canary
        )
        result = AIResult(**about, status=ResultStatus.DENIED, result=reason)
        written_to: tuple[str | None, str | None] = (None, None)
    elif decision.allowed:
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ]

        def invoke(endpoint: ModelEndpoint) -> ModelReply:
            if endpoint.region not in jurisdiction.allowed_regions:
                raise SovereigntyViolation(f"refusing {endpoint.ref}: outside {jurisdiction.id}")
            return model.invoke(endpoint, messages)

        _, reply = call_with_failover(decision.endpoints, breakers, invoke)
        aws_request_ids = (reply.aws_request_id,) if reply.aws_request_id else ()
        mapping = (
            vault.open(classified.sealed_mapping, mapping_context(request, jurisdiction))
            if classified.sealed_mapping
            else {}
        )
        cleaned, removed = scan_output(reply.text, mapping)
        answered = canaries.seen(reply.text, "model_output") if canaries else None
        audit.write(
            _record(
                request,
                jurisdiction,
                Stage.MODEL_INVOCATION,
                classified.level,
                region=reply.region,
                endpoint=reply.endpoint,
                rule_id=decision.rule_id,
                policy_version=decision.policy_version,
                outcome=Outcome.FAILED if answered else Outcome.OK,
                reason=ANSWER_WITHHELD if answered else None,
                prompt_sha256=classified.prompt_sha256,
                output_removed=dict(removed),
                links=_links(request, aws_request_ids=aws_request_ids),
            )
        )
        if answered is not None:
            withheld = _raise_canary(
                request, jurisdiction, classified.level, answered, audit=audit, on_canary=on_canary
            )
            result = AIResult(**about, status=ResultStatus.DENIED, result=withheld)
        else:
            result = AIResult(
                **about,
                status=ResultStatus.COMPLETED,
                model_endpoint=reply.endpoint,
                model_region=reply.region,
                result=restore(cleaned, mapping)[:32_000],
            )
        written_to = (reply.region, reply.endpoint)
    else:
        result = AIResult(**about, status=ResultStatus.DENIED, result=decision.reason[:32_000])
        written_to = (None, None)

    completed = result.status is ResultStatus.COMPLETED
    result_id = crm.upsert_result(request.event_uuid, result)
    write_back_location = audit.write(
        _record(
            request,
            jurisdiction,
            Stage.WRITE_BACK,
            classified.level,
            region=written_to[0],
            endpoint=written_to[1],
            rule_id=decision.rule_id,
            policy_version=decision.policy_version,
            outcome=Outcome.OK if completed else Outcome.DENIED,
            links=_links(request, salesforce_result_id=result_id, aws_request_ids=aws_request_ids),
        )
    )
    return {
        "status": "completed"
        if completed
        else ("blocked" if sighting or answered else "denied"),  # blocked: a leak canary
        "level": classified.level.value,
        "rule_id": decision.rule_id,
        "endpoint": f"{written_to[1]}@{written_to[0]}" if written_to[1] else None,
        "result_id": result_id,
        "routing_audit": routing_record,
        "write_back_audit": write_back_location,
    }


def _raise_canary(
    request: AIRequest,
    jurisdiction: Jurisdiction,
    level: DataLevel,
    sighting: Sighting,
    *,
    audit: AuditSink,
    on_canary: Callable[[Sighting, str], None] | None,
) -> str:
    """Record a canary's sighting (kind and org, never the value), raise the alarm, and say
    why the result is empty."""
    record = _record(
        request,
        jurisdiction,
        Stage.REJECTION,
        level,
        outcome=Outcome.REJECTED,
        reason=sighting.reason,
    )
    audit.write(record)
    if on_canary is not None:
        on_canary(sighting, record.record_id)
    return (
        f"Blocked: a value planted to detect leaks was in the {sighting.where}. "
        "The event is recorded."
    )


def decision_fields(decision: RouteDecision) -> dict[str, Any]:
    """The audit record fields that explain a routing decision (shared by both entry points)."""
    return {
        "rule_id": decision.rule_id,
        "reason": decision.reason,
        "policy_version": decision.policy_version,
        "residual_level": decision.query.leaving_level,
        "candidates": tuple(e.ref for e in decision.endpoints),
        "excluded": decision.excluded,
        "outcome": Outcome.OK if decision.allowed else Outcome.DENIED,
    }
