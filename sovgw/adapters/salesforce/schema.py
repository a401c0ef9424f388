"""Every Salesforce API name the gateway reads or writes, in one place.

The domain speaks in its own terms (``AIResult``, ``GrantRecord``, data levels); this module
names them in the org's schema. ``tests/integration/test_salesforce_schema.py`` checks each
name against the simulator's schema, which is parsed from the SFDX project an admin deploys
(``salesforce/force-app``), so a renamed field fails a test instead of a write in production.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sovgw.domain.query_log import soql_target
from sovgw.domain.write_back import AIResult, GrantRecord
from sovgw.wiring import HEARTBEAT_EVENT

AI_RESULT = "AI_Result__c"
AI_RESULT_EXTERNAL_ID = "Request_Event_Id__c"
AI_RESULT_FIELDS = {
    "related_record": "Related_Record__c",
    "request_event_id": AI_RESULT_EXTERNAL_ID,
    "purpose": "Purpose__c",
    "data_level": "Data_Level__c",
    "policy_rule": "Policy_Rule__c",
    "status": "Status__c",
    "model_endpoint": "Model_Endpoint__c",
    "model_region": "Model_Region__c",
    "result": "Result__c",
}

BREAK_GLASS_GRANT = "Break_Glass_Grant__c"
BREAK_GLASS_GRANT_EXTERNAL_ID = "Request_Id__c"
BREAK_GLASS_GRANT_FIELDS = {
    "status": "Status__c",
    "target_user": "Target_User__c",
    "approver": "Approver__c",
    "case_reference": "Case_Reference__c",
    "scope": "Scope__c",
    "expires_at_ms": "Expires_At__c",
    "status_reason": "Status_Reason__c",
}

DATA_CLASSIFICATION = "Data_Classification__mdt"
DATA_CLASSIFICATION_FIELDS = {"object": "Object__c", "field": "Field__c", "level": "Level__c"}

HEARTBEAT = HEARTBEAT_EVENT  # named once, in the wiring that routes it
HEARTBEAT_FIELDS = {"beat_id": "Beat_Id__c", "sent_at": "Sent_At__c"}

USER = "User"
PERMISSION_SET = "PermissionSet"
PERMISSION_SET_ASSIGNMENT = "PermissionSetAssignment"
PERMISSION_SET_ASSIGNMENT_FIELDS = ("AssigneeId", "PermissionSetId", "ExpirationDate")

# SOQL templates: literals with ``{}`` for values, which only ``format_soql`` fills (bound and
# escaped). A test checks they name the objects and fields above.
FIELD_LEVELS_SOQL = "SELECT Field__c, Level__c FROM Data_Classification__mdt WHERE Object__c = {}"
FIND_RESULT_SOQL = "SELECT Id FROM AI_Result__c WHERE Request_Event_Id__c = {} LIMIT 1"
USER_SOQL = "SELECT Id FROM User WHERE Id = {}"
PERMISSION_SET_SOQL = "SELECT Id FROM PermissionSet WHERE Name = {}"
ASSIGNMENTS_SOQL = (
    "SELECT Id, ExpirationDate FROM PermissionSetAssignment "
    "WHERE AssigneeId = {} AND PermissionSetId = {}"
)
# Event Relay set-up (read by the relay monitor credential, which has View Setup).
NAMED_CREDENTIAL_SOQL = "SELECT Endpoint FROM NamedCredential WHERE DeveloperName = {} LIMIT 1"
RELAY_CONFIG_SOQL = (
    "SELECT Id, DeveloperName, State, EventChannel FROM EventRelayConfig "
    "WHERE EventChannel = {} LIMIT 1"
)
RELAY_FEEDBACK_SOQL = (
    "SELECT Status, ErrorCode, ErrorMessage, ErrorTime, LastRelayedEventTime "
    "FROM EventRelayFeedback WHERE EventRelayConfigId = {} LIMIT 1"
)

# The access review (read by the relay monitor credential).
SERVICE_USERS_SOQL = "SELECT Id, Username, IsActive FROM User WHERE Id IN {}"
USER_ASSIGNMENTS_SOQL = (
    "SELECT AssigneeId, PermissionSetId, ExpirationDate FROM PermissionSetAssignment "
    "WHERE AssigneeId IN {}"
)
PERMISSION_SET_NAMES_SOQL = "SELECT Id, Name FROM PermissionSet WHERE Id IN {}"
LOGINS_SOQL = (
    "SELECT UserId, LoginTime, Status FROM LoginHistory WHERE UserId IN {} "
    "AND LoginTime >= {} AND LoginTime < {}"
)

SOQL_TEMPLATES = (
    FIELD_LEVELS_SOQL,
    FIND_RESULT_SOQL,
    USER_SOQL,
    PERMISSION_SET_SOQL,
    ASSIGNMENTS_SOQL,
    NAMED_CREDENTIAL_SOQL,
    RELAY_CONFIG_SOQL,
    RELAY_FEEDBACK_SOQL,
    SERVICE_USERS_SOQL,
    USER_ASSIGNMENTS_SOQL,
    PERMISSION_SET_NAMES_SOQL,
    LOGINS_SOQL,
)


def _gateway_reads() -> dict[str, tuple[str, ...]]:
    reads: dict[str, set[str]] = {}
    for template in SOQL_TEMPLATES:
        sobject, fields = soql_target(template)
        if sobject is not None:
            reads.setdefault(sobject, set()).update(fields)
    return {sobject: tuple(sorted(fields)) for sobject, fields in reads.items()}


# What the gateway itself reads from every org, whoever its principal (the anomaly detector
# expects these reads of any principal, next to those its purpose names): exactly what the
# templates above select.
GATEWAY_READS = _gateway_reads()


def ai_result_fields(result: AIResult) -> dict[str, Any]:
    """The ``AI_Result__c`` body (its external id is in the upsert's path, not the body)."""
    values = result.model_dump(mode="json", exclude_unset=True)
    return {
        AI_RESULT_FIELDS[name]: value
        for name, value in values.items()
        if name != "request_event_id"
    }


def grant_record_fields(record: GrantRecord) -> dict[str, Any]:
    """The ``Break_Glass_Grant__c`` body; a reason only when there is one."""
    values = record.model_dump(mode="json", exclude_unset=True)
    if values.get("expires_at_ms") is not None:
        values["expires_at_ms"] = salesforce_datetime(int(values["expires_at_ms"]))
    return {BREAK_GLASS_GRANT_FIELDS[name]: value for name, value in values.items()}


def salesforce_datetime(epoch_ms: int) -> str:
    """Salesforce's REST datetime format (UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(epoch_ms / 1000))


def epoch_seconds(iso: str) -> float:
    """Seconds since the epoch of a Salesforce datetime."""
    return datetime.fromisoformat(iso.replace("+0000", "+00:00").replace("Z", "+00:00")).timestamp()
