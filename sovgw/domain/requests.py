"""The request as it moves between pipeline stages (independent of transport)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sovgw.domain.levels import DataLevel


class AIRequest(BaseModel):
    """An AI request raised in Salesforce (from an ``AI_Request__e`` platform event)."""

    model_config = ConfigDict(frozen=True)

    org_id: str
    event_uuid: str
    replay_id: str | None = None
    eventbridge_event_id: str
    record_id: str = Field(pattern=r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
    purpose: str = Field(min_length=1, max_length=80)
    requested_by: str = Field(pattern=r"^005[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$")


class ClassifiedRequest(BaseModel):
    """A request after classification and minimisation: no raw personal values inside."""

    model_config = ConfigDict(frozen=True)

    request: AIRequest
    jurisdiction: str
    sobject: str
    level: DataLevel
    # The level of what leaves after pseudonymisation; missing means ``level`` (fail closed).
    residual_level: DataLevel | None = None
    entity_counts: dict[str, int]
    fields_used: tuple[str, ...]
    instruction: str
    minimised_text: str = Field(max_length=60_000)
    prompt_sha256: str
    sealed_mapping: str | None = Field(default=None, max_length=120_000)
