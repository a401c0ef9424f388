"""The AWS side of an org's Event Relay: the partner event source and its event bus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

NOT_IMPLEMENTED = {"InternalFailure", "NotImplementedException", "501"}


@dataclass(frozen=True)
class PartnerBus:
    source_state: str | None  # PENDING, ACTIVE, DELETED; None: no such source
    source_checkable: bool
    bus_exists: bool
    bus_rules: int


def read_partner_bus(events: Any, event_source: str) -> PartnerBus:
    """``DescribeEventSource`` and the partner bus (named after its source) with its rules."""
    state, checkable = None, True
    try:
        state = events.describe_event_source(Name=event_source).get("State")
    except ClientError as error:
        code = error.response["Error"]["Code"]
        status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in NOT_IMPLEMENTED or status == "501":
            checkable = False
        elif code != "ResourceNotFoundException":
            raise
    try:
        events.describe_event_bus(Name=event_source)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return PartnerBus(state, checkable, bus_exists=False, bus_rules=0)
    rules = events.list_rules(EventBusName=event_source).get("Rules", [])
    return PartnerBus(state, checkable, bus_exists=True, bus_rules=len(rules))
