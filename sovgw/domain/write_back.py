"""What the gateway writes back into Salesforce, as domain values: the result of one AI request
and the record of one break-glass grant. The domain says what they mean; the Salesforce
adapter names them in the org's schema (``sovgw.adapters.salesforce.schema``), so no
Salesforce API name is spelled in the domain."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ResultStatus(StrEnum):
    COMPLETED = "Completed"
    DENIED = "Denied"


class AIResult(BaseModel):
    """The answer to one AI request, next to the record it was about (fields not set are not
    written: a denied request names no model)."""

    model_config = ConfigDict(frozen=True)

    related_record: str
    request_event_id: str
    purpose: str
    data_level: str
    policy_rule: str | None
    status: ResultStatus | None = None
    model_endpoint: str | None = None
    model_region: str | None = None
    result: str | None = None


class GrantRecordStatus(StrEnum):
    GRANTED = "Granted"
    EXPIRED = "Expired"
    REVOKED = "Revoked"
    ROLLED_BACK = "Rolled Back"


class GrantRecord(BaseModel):
    """A break-glass grant as its approver and requester see it in Salesforce."""

    model_config = ConfigDict(frozen=True)

    status: GrantRecordStatus
    target_user: str
    approver: str | None
    case_reference: str
    scope: str
    expires_at_ms: int | None
    status_reason: str | None = None
