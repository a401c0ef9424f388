"""Domain pipeline with in-memory adapters: what reaches the model, what gets audited."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from sovgw.adapters.salesforce.schema import ai_result_fields
from sovgw.config import Jurisdiction, ModelEndpoint, TrustTier
from sovgw.domain.audit import Stage
from sovgw.domain.canaries import CanaryWatch, Sighting, new_canaries
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.domain.failover import BreakerBoard, NoHealthyEndpoint
from sovgw.domain.levels import DataLevel
from sovgw.domain.pipeline import classify_request, route_and_invoke
from sovgw.domain.requests import AIRequest, ClassifiedRequest
from sovgw.domain.write_back import AIResult
from sovgw.ports import ModelInvoker, ModelReply
from tests.factories import make_jurisdiction
from tests.fakes import MemoryAudit, MemoryVault

CASE_ID = "5005E000000001dQAA"
PERSONAL_VALUES = ("max.mueller@example.de", "+49 151 2345 6789", "DE89 3704 0044 0532 0130 00")


class FakeCrm:
    def __init__(self, levels: Mapping[str, DataLevel]) -> None:
        self.levels = levels
        self.results: dict[str, dict[str, Any]] = {}  # as Salesforce stores them

    def get_record(self, sobject: str, record_id: str, fields: Sequence[str]) -> dict[str, Any]:
        record = {
            "Subject": "Dispute",
            "Description": f"Reach {PERSONAL_VALUES[0]} or {PERSONAL_VALUES[1]}; IBAN {PERSONAL_VALUES[2]}.",
            "Status": "New",
            "Priority": "High",
            "Secret_Field__c": "never read",
        }
        return {field: record.get(field) for field in fields}

    def field_levels(self, sobject: str) -> Mapping[str, DataLevel]:
        return self.levels

    def find_result(self, event_uuid: str) -> str | None:
        return next(
            (rid for rid, r in self.results.items() if r["Request_Event_Id__c"] == event_uuid), None
        )

    def upsert_result(self, event_uuid: str, result: AIResult) -> str:
        rid = self.find_result(event_uuid) or f"a01{len(self.results):015d}"
        self.results[rid] = {**ai_result_fields(result), "Request_Event_Id__c": event_uuid}
        return rid


class FakeModel:
    def __init__(self) -> None:
        self.calls: list[tuple[ModelEndpoint, list[Mapping[str, str]]]] = []

    def invoke(self, endpoint: ModelEndpoint, messages: Sequence[Mapping[str, str]]) -> ModelReply:
        self.calls.append((endpoint, list(messages)))
        return ModelReply(
            text="summary", endpoint=endpoint.name, region=endpoint.region, aws_request_id="req-1"
        )


def _request(purpose: str = "summarise_case", record_id: str = CASE_ID) -> AIRequest:
    return AIRequest(
        org_id="00D5E0000000001UAA",
        event_uuid="0b7f3c3e-8f3e-4f1a-9a55-1f0e2d3c4b01",
        eventbridge_event_id="eb-1",
        record_id=record_id,
        purpose=purpose,
        requested_by="0055E000000000CQAQ",
    )


JURISDICTION = make_jurisdiction(
    ModelEndpoint(name="llm", region="eu-central-1", tier=TrustTier.SOVEREIGN)
)
ALL_PUBLIC = dict.fromkeys(("Subject", "Description", "Status", "Priority"), DataLevel.PUBLIC)


def _route(
    classified: ClassifiedRequest,
    jurisdiction: Jurisdiction,
    *,
    model: ModelInvoker,
    crm: FakeCrm,
    audit: MemoryAudit,
    vault: MemoryVault,
) -> dict[str, object]:
    """``route_and_invoke`` with fresh breakers (each test starts with healthy endpoints)."""
    return route_and_invoke(
        classified,
        jurisdiction,
        model=model,
        crm=crm,
        audit=audit,
        vault=vault,
        breakers=BreakerBoard(),
    )


def test_personal_values_never_reach_the_model_or_the_audit_trail() -> None:
    crm, model, audit, vault = FakeCrm(ALL_PUBLIC), FakeModel(), MemoryAudit(), MemoryVault()
    classified = classify_request(_request(), JURISDICTION, crm, audit, vault)
    outcome = _route(classified, JURISDICTION, model=model, crm=crm, audit=audit, vault=vault)

    assert classified.level is DataLevel.PERSONAL
    assert classified.entity_counts == {"EMAIL": 1, "PHONE": 1, "IBAN": 1}
    sent = " ".join(m["content"] for m in model.calls[0][1])
    assert "[EMAIL_1]" in sent and "[IBAN_1]" in sent
    dumped = " ".join(r.model_dump_json() for r in audit.records.values()) + sent
    for value in PERSONAL_VALUES:
        assert value not in dumped
    assert outcome["status"] == "completed"
    assert {r.stage for r in audit.records.values()} == {
        Stage.CLASSIFICATION,
        Stage.ROUTING,
        Stage.MODEL_INVOCATION,
        Stage.WRITE_BACK,
    }
    invocation = next(r for r in audit.records.values() if r.stage is Stage.MODEL_INVOCATION)
    assert invocation.links.aws_request_ids == ("req-1",)


def test_unclassified_fields_count_as_most_sensitive() -> None:
    crm, audit, vault = FakeCrm({"Subject": DataLevel.PUBLIC}), MemoryAudit(), MemoryVault()
    assert (
        classify_request(_request(), JURISDICTION, crm, audit, vault).level is DataLevel.PRIVILEGED
    )


def test_denied_request_writes_a_denied_result_and_calls_no_model() -> None:
    closed = make_jurisdiction()
    crm, model, audit, vault = FakeCrm(ALL_PUBLIC), FakeModel(), MemoryAudit(), MemoryVault()
    outcome = _route(
        classify_request(_request(), closed, crm, audit, vault),
        closed,
        model=model,
        crm=crm,
        audit=audit,
        vault=vault,
    )
    assert outcome["status"] == "denied"
    assert model.calls == []
    (result,) = crm.results.values()
    assert result["Status__c"] == "Denied"


def test_replayed_request_does_not_write_a_second_result() -> None:
    crm, model, audit, vault = FakeCrm(ALL_PUBLIC), FakeModel(), MemoryAudit(), MemoryVault()
    for _ in range(3):
        _route(
            classify_request(_request(), JURISDICTION, crm, audit, vault),
            JURISDICTION,
            model=model,
            crm=crm,
            audit=audit,
            vault=vault,
        )
    assert len(crm.results) == 1
    assert len(audit.records) == 4


@pytest.mark.parametrize(
    ("purpose", "record_id", "message"),
    [
        ("export_everything", CASE_ID, "unknown purpose"),
        ("review_clause", CASE_ID, "does not apply to Case"),
        ("summarise_case", "0015E000000001dQAA", "not a supported object"),
    ],
)
def test_requests_outside_a_purpose_are_refused(purpose: str, record_id: str, message: str) -> None:
    with pytest.raises(RejectedInput, match=message):
        classify_request(
            _request(purpose, record_id),
            JURISDICTION,
            FakeCrm(ALL_PUBLIC),
            MemoryAudit(),
            MemoryVault(),
        )


class ExfiltratingModel(FakeModel):
    """Echoes the placeholders it was given and adds values that were never in the request."""

    def invoke(self, endpoint: ModelEndpoint, messages: Sequence[Mapping[str, str]]) -> ModelReply:
        super().invoke(endpoint, messages)
        return ModelReply(
            text="Write to [EMAIL_1] (not attacker@evil.example), pay DE44 5001 0517 5407 3249 31.",
            endpoint=endpoint.name,
            region=endpoint.region,
            aws_request_id="req-2",
        )


def test_same_value_same_placeholder_and_mapping_only_sealed() -> None:
    crm, audit, vault = FakeCrm(ALL_PUBLIC), MemoryAudit(), MemoryVault()
    classified = classify_request(_request(), JURISDICTION, crm, audit, vault)
    assert classified.sealed_mapping is not None
    assert PERSONAL_VALUES[0] not in classified.model_dump_json()
    mapping, context = vault.sealed[classified.sealed_mapping]
    assert mapping["[EMAIL_1]"] == PERSONAL_VALUES[0]
    assert context == {
        "event_uuid": _request().event_uuid,
        "org_id": _request().org_id,
        "jurisdiction": "eu-de",
    }


def test_output_scanning_removes_exfiltrated_values_and_restores_the_request_values() -> None:
    crm, model, audit, vault = (
        FakeCrm(ALL_PUBLIC),
        ExfiltratingModel(),
        MemoryAudit(),
        MemoryVault(),
    )
    classified = classify_request(_request(), JURISDICTION, crm, audit, vault)
    _route(classified, JURISDICTION, model=model, crm=crm, audit=audit, vault=vault)
    (result,) = crm.results.values()
    assert result["Result__c"] == (
        f"Write to {PERSONAL_VALUES[0]} (not [REMOVED_EMAIL]), pay [REMOVED_IBAN]."
    )
    invocation = next(r for r in audit.records.values() if r.stage is Stage.MODEL_INVOCATION)
    assert invocation.output_removed == {"EMAIL": 1, "IBAN": 1}


class FlakyModel(FakeModel):
    """Fails for the endpoints named in ``down``."""

    def __init__(self, down: set[str]) -> None:
        super().__init__()
        self.down = down

    def invoke(self, endpoint: ModelEndpoint, messages: Sequence[Mapping[str, str]]) -> ModelReply:
        if endpoint.name in self.down:
            self.calls.append((endpoint, list(messages)))
            raise UpstreamUnavailable(f"{endpoint.ref}: 503")
        return super().invoke(endpoint, messages)


TWO_ENDPOINTS = make_jurisdiction(
    ModelEndpoint(name="llm", region="eu-central-1", tier=TrustTier.SOVEREIGN),
    ModelEndpoint(name="llm-b", region="eu-central-1", tier=TrustTier.SOVEREIGN),
)


def test_event_path_fails_over_in_region_and_records_the_endpoint_used() -> None:
    crm, model, audit, vault = (
        FakeCrm(ALL_PUBLIC),
        FlakyModel({"llm"}),
        MemoryAudit(),
        MemoryVault(),
    )
    outcome = _route(
        classify_request(_request(), TWO_ENDPOINTS, crm, audit, vault),
        TWO_ENDPOINTS,
        model=model,
        crm=crm,
        audit=audit,
        vault=vault,
    )
    assert outcome["endpoint"] == "llm-b@eu-central-1"
    assert [e.name for e, _ in model.calls] == ["llm", "llm-b"]
    (result,) = crm.results.values()
    assert result["Model_Endpoint__c"] == "llm-b"


def test_event_path_with_no_healthy_endpoint_raises_retryable_and_writes_no_result() -> None:
    crm, audit, vault = FakeCrm(ALL_PUBLIC), MemoryAudit(), MemoryVault()
    model = FlakyModel({"llm", "llm-b"})
    classified = classify_request(_request(), TWO_ENDPOINTS, crm, audit, vault)
    with pytest.raises(NoHealthyEndpoint) as raised:
        _route(classified, TWO_ENDPOINTS, model=model, crm=crm, audit=audit, vault=vault)
    assert raised.value.retryable, "the event stays in its queue and is retried, not lost"
    assert crm.results == {}


VENDOR = ModelEndpoint(
    name="vendor", region="eu-central-1", tier=TrustTier.EXTERNAL, base_url="https://v.example/v1"
)


class CanaryCrm(FakeCrm):
    """The canary case: its subject carries the planted reference."""

    def __init__(self, reference: str) -> None:
        super().__init__(ALL_PUBLIC)
        self.reference = reference

    def get_record(self, sobject: str, record_id: str, fields: Sequence[str]) -> dict[str, Any]:
        record = super().get_record(sobject, record_id, fields)
        return {**record, "Subject": f"Account question {self.reference}"}


class EchoingModel(FakeModel):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def invoke(self, endpoint: ModelEndpoint, messages: Sequence[Mapping[str, str]]) -> ModelReply:
        super().invoke(endpoint, messages)
        return ModelReply(text=self.text, endpoint=endpoint.name, region=endpoint.region)


def test_a_canary_bound_for_a_vendor_is_never_sent_and_raised() -> None:
    planted = new_canaries("00D5E0000000001UAA", datetime.now(UTC))
    reference = next(c.value for c in planted.canaries if c.kind == "reference")
    crm, model, audit, vault = CanaryCrm(reference), FakeModel(), MemoryAudit(), MemoryVault()
    vendor_ok = make_jurisdiction(VENDOR, external_sensitive="pseudonymise")
    classified = classify_request(_request("draft_reply"), vendor_ok, crm, audit, vault)
    raised: list[tuple[Sighting, str]] = []
    outcome = route_and_invoke(
        classified, vendor_ok, model=model, crm=crm, audit=audit, vault=vault,
        breakers=BreakerBoard(), canaries=CanaryWatch((planted,)),
        on_canary=lambda sighting, record: raised.append((sighting, record)),
    )  # fmt: skip
    assert model.calls == [], "nothing was sent"
    (result,) = crm.results.values()
    assert result["Status__c"] == "Denied" and "planted to detect leaks" in result["Result__c"]
    [(sighting, record_id)] = raised
    assert (sighting.canary.kind, sighting.path) == ("reference", "external_prompt")
    rejection = audit.records[record_id]
    assert rejection.stage is Stage.REJECTION and reference not in (rejection.reason or "")
    assert outcome["status"] == "blocked" and outcome["endpoint"] is None


def test_a_canary_in_a_models_answer_is_withheld_and_raised() -> None:
    planted = new_canaries("00D5E0000000001UAA", datetime.now(UTC))
    phone = next(c.value for c in planted.canaries if c.kind == "phone")
    crm, model, audit, vault = (
        FakeCrm(ALL_PUBLIC),
        EchoingModel(f"Call {phone}"),
        MemoryAudit(),
        MemoryVault(),
    )
    classified = classify_request(_request(), JURISDICTION, crm, audit, vault)
    raised: list[Sighting] = []
    route_and_invoke(
        classified, JURISDICTION, model=model, crm=crm, audit=audit, vault=vault,
        breakers=BreakerBoard(), canaries=CanaryWatch((planted,)),
        on_canary=lambda sighting, record: raised.append(sighting),
    )  # fmt: skip
    (result,) = crm.results.values()
    assert result["Status__c"] == "Denied" and phone not in result["Result__c"]
    assert [s.path for s in raised] == ["model_output"]
    invocation = next(r for r in audit.records.values() if r.stage is Stage.MODEL_INVOCATION)
    assert invocation.outcome.value == "failed"
