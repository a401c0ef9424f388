"""Event contracts for every entry point, in the exact envelopes the functions receive.

The pydantic models are the single source: handlers parse with them, ``sovgw events validate``
checks files with them, and ``events/schemas/*.schema.json`` are generated from them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sovgw.domain.dataset_ids import BUILD_ID_PATTERN, DATASET_ID
from sovgw.domain.errors import RejectedInput
from sovgw.domain.requests import ClassifiedRequest

SALESFORCE_SOURCE_PREFIX = "aws.partner/salesforce.com/"
# Events ``sovgw salesforce relay replay`` read back from Salesforce and put on the
# jurisdiction's bus (``aws.*`` sources are reserved to AWS): the rest of the source is the same.
REPLAY_SOURCE_PREFIX = "sovgw.replay/salesforce.com/"
SALESFORCE_SOURCES = (SALESFORCE_SOURCE_PREFIX, REPLAY_SOURCE_PREFIX)
CLASSIFY_SOURCE = "sovgw.classify"
USER_ID = r"^005[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$"
RECORD_ID = r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class _Strict(BaseModel):
    # Built on first use: each function parses one or two of these contracts, and building the
    # others' validators would only lengthen every cold start.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class _Envelope(_Strict):
    """EventBridge's event structure (the fields every event has)."""

    version: Literal["0"]
    id: str = Field(min_length=1, max_length=128)
    detail_type: str = Field(alias="detail-type", min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=256)
    account: str = Field(pattern=r"^\d{12}$")
    time: datetime
    region: str
    resources: list[str]
    replay_name: str | None = Field(default=None, alias="replay-name")


# --- Salesforce Event Relay ------------------------------------------------------------------


class PlatformEventFields(BaseModel):
    """Standard fields of every platform event payload; fields added by Salesforce are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    CreatedById: str = Field(pattern=USER_ID)
    CreatedDate: datetime


class AIRequestPayload(PlatformEventFields):
    """``AI_Request__e``: ask the gateway to run a purpose on a Case or Contract."""

    Record_Id__c: str = Field(pattern=RECORD_ID)
    Purpose__c: str = Field(min_length=1, max_length=80)
    Requested_By__c: str = Field(pattern=USER_ID)


class BreakGlassRequestPayload(PlatformEventFields):
    """``Break_Glass_Request__e``: emergency access request (handled by issue #6)."""

    Target_User_Id__c: str = Field(pattern=USER_ID)
    Reason__c: str = Field(min_length=10, max_length=1000)
    Case_Reference__c: str = Field(min_length=1, max_length=80)
    Scope__c: str = Field(min_length=1, max_length=255)
    Duration_Minutes__c: int = Field(gt=0, le=1440)


class BreakGlassApprovalPayload(PlatformEventFields):
    """``Break_Glass_Approval__e``: a second person's decision on a request."""

    Request_Id__c: str = Field(min_length=1, max_length=80)
    Approver_Id__c: str = Field(pattern=USER_ID)
    Decision__c: Literal["Approved", "Rejected"]


class HeartbeatPayload(PlatformEventFields):
    """``Sovgw_Heartbeat__e``: published by the relay watcher each minute; its arrival proves
    the relay delivers, its absence is a gap and its age the relay's lag."""

    Beat_Id__c: str = Field(min_length=1, max_length=36)
    Sent_At__c: datetime


class ChangeEventHeader(_Strict):
    """Change Data Capture header, as Salesforce sends it."""

    entityName: str
    recordIds: list[str] = Field(min_length=1)
    changeType: Literal[
        "CREATE",
        "UPDATE",
        "DELETE",
        "UNDELETE",
        "GAP_CREATE",
        "GAP_UPDATE",
        "GAP_DELETE",
        "GAP_UNDELETE",
        "GAP_OVERFLOW",
    ]
    changeOrigin: str
    transactionKey: str
    sequenceNumber: int
    commitTimestamp: int
    commitNumber: int
    commitUser: str
    changedFields: list[str] = Field(default_factory=list)
    diffFields: list[str] = Field(default_factory=list)
    nulledFields: list[str] = Field(default_factory=list)


class ChangeEventPayload(BaseModel):
    """A change event payload: the header plus whichever record fields changed."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    ChangeEventHeader: ChangeEventHeader


class _RelayDetail(_Strict):
    schemaId: str = Field(min_length=1)
    id: str = Field(pattern=UUID, description="The event's EventUuid; deduplicate on it.")
    replayId: str | None = Field(default=None, description="Not contiguous; gaps are normal.")


class _RelayEnvelope(_Envelope):
    """An event Salesforce Event Relay put on the bus: the source names the org."""

    source: str = Field(
        pattern=r"^(aws\.partner|sovgw\.replay)/salesforce\.com/00D[a-zA-Z0-9]{12,15}/0YL\w+$"
    )

    @property
    def org_id(self) -> str:
        return self.source.split("/")[2]

    @property
    def replayed(self) -> bool:
        """Put back by ``relay replay`` rather than delivered by Event Relay."""
        return self.source.startswith(REPLAY_SOURCE_PREFIX)


class AIRequestEvent(_RelayEnvelope):
    class Detail(_RelayDetail):
        payload: AIRequestPayload

    detail_type: Literal["AI_Request__e"] = Field(alias="detail-type")
    detail: Detail


class BreakGlassRequestEvent(_RelayEnvelope):
    class Detail(_RelayDetail):
        payload: BreakGlassRequestPayload

    detail_type: Literal["Break_Glass_Request__e"] = Field(alias="detail-type")
    detail: Detail


class BreakGlassApprovalEvent(_RelayEnvelope):
    class Detail(_RelayDetail):
        payload: BreakGlassApprovalPayload

    detail_type: Literal["Break_Glass_Approval__e"] = Field(alias="detail-type")
    detail: Detail


class HeartbeatEvent(_RelayEnvelope):
    class Detail(_RelayDetail):
        payload: HeartbeatPayload

    detail_type: Literal["Sovgw_Heartbeat__e"] = Field(alias="detail-type")
    detail: Detail


class ChangeEvent(_Envelope):
    class Detail(_RelayDetail):
        payload: ChangeEventPayload

    detail_type: str = Field(alias="detail-type", pattern=r"^\w+ChangeEvent$")
    detail: Detail


# --- AWS-originated events -------------------------------------------------------------------


class ScheduledEvent(_Envelope):
    """An EventBridge schedule tick (drives sweepers; Scheduler does not fire in LocalStack)."""

    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    source: Literal["aws.events", "aws.scheduler"]
    detail: dict[str, Any]


class DatasetBuildRef(_Strict):
    """A dataset build (the reconcile step's input, and what a scan item extends)."""

    dataset: str = Field(pattern=DATASET_ID)
    build_id: str = Field(pattern=BUILD_ID_PATTERN)


class DatasetPartItem(DatasetBuildRef):
    """One item of the scan's distributed map: a part file of a build."""

    part: int = Field(ge=1, le=1_000_000)


class SecretRotationEvent(_Strict):
    """What Secrets Manager sends a rotation function, once per step."""

    Step: Literal["createSecret", "setSecret", "testSecret", "finishSecret"]
    SecretId: str = Field(min_length=1)
    ClientRequestToken: str = Field(min_length=32, max_length=64)
    RotationToken: str | None = None


# --- Internal events between functions -------------------------------------------------------


class RequestClassifiedEvent(_Envelope):
    """Emitted by ``classify`` for ``route``: minimised, redacted content only."""

    detail_type: Literal["RequestClassified"] = Field(alias="detail-type")
    source: Literal["sovgw.classify"]
    detail: ClassifiedRequest


@dataclass(frozen=True)
class Contract:
    """A named event shape and how to recognise it in a raw event."""

    name: str
    model: type[BaseModel]
    recognises: Callable[[Mapping[str, Any]], bool]


def _salesforce(detail_type: str) -> Callable[[Mapping[str, Any]], bool]:
    def recognises(event: Mapping[str, Any]) -> bool:
        return str(event.get("source", "")).startswith(SALESFORCE_SOURCES) and (
            event.get("detail-type") == detail_type
        )

    return recognises


CONTRACTS: tuple[Contract, ...] = (
    Contract("ai_request", AIRequestEvent, _salesforce("AI_Request__e")),
    Contract("break_glass_request", BreakGlassRequestEvent, _salesforce("Break_Glass_Request__e")),
    Contract(
        "break_glass_approval", BreakGlassApprovalEvent, _salesforce("Break_Glass_Approval__e")
    ),
    Contract("heartbeat", HeartbeatEvent, _salesforce("Sovgw_Heartbeat__e")),
    Contract(
        "change_event",
        ChangeEvent,
        lambda e: (
            str(e.get("source", "")).startswith(SALESFORCE_SOURCES)
            and str(e.get("detail-type", "")).endswith("ChangeEvent")
        ),
    ),
    Contract("scheduled", ScheduledEvent, lambda e: e.get("detail-type") == "Scheduled Event"),
    Contract("secret_rotation", SecretRotationEvent, lambda e: "Step" in e and "SecretId" in e),
    Contract(
        "request_classified",
        RequestClassifiedEvent,
        lambda e: (
            e.get("source") == CLASSIFY_SOURCE and e.get("detail-type") == "RequestClassified"
        ),
    ),
)


class ContractError(RejectedInput):
    """An event matched no contract or failed its contract; the message says which and why."""


def recognise(event: Mapping[str, Any]) -> Contract:
    """The contract ``event`` claims to follow, or ContractError naming what was seen."""
    for contract in CONTRACTS:
        if contract.recognises(event):
            return contract
    raise ContractError(
        f"no contract for source={event.get('source')!r} detail-type={event.get('detail-type')!r}"
    )


def describe_validation_error(error: ValidationError) -> str:
    """A one-line reason naming fields and problems, never the offending values."""
    problems = [
        f"{'.'.join(str(p) for p in item['loc']) or '<root>'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)
    ]
    return f"{len(problems)} problem(s): " + "; ".join(problems[:8])


def parse_event[T: BaseModel](model: type[T], event: Mapping[str, Any]) -> T:
    """Parse ``event`` with ``model``; a failure becomes ContractError with a safe reason."""
    try:
        return model.model_validate(event)
    except ValidationError as error:
        raise ContractError(f"{model.__name__}: {describe_validation_error(error)}") from None


def validate_event(event: Mapping[str, Any]) -> Contract:
    """Recognise and fully validate ``event``; raises ContractError with the reason."""
    contract = recognise(event)
    parse_event(contract.model, event)
    return contract


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every contract, keyed by contract name."""
    schemas: dict[str, dict[str, Any]] = {}
    for contract in CONTRACTS:
        schema = contract.model.model_json_schema(by_alias=True)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://sovgw.dev/schemas/{contract.name}.schema.json"
        schemas[contract.name] = schema
    return schemas


def write_json_schemas(directory: Path) -> list[Path]:
    """(Re)write ``<name>.schema.json`` for every contract; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
