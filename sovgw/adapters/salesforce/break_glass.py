"""``SalesforceAccess``: a break-glass grant's Salesforce side (users, permission set
assignments with their expiry, the grant record, its sessions), over the EMERGENCY lane."""

from __future__ import annotations

import contextlib
from urllib.parse import quote

from simple_salesforce.format import format_soql

from sovgw.adapters.salesforce import schema
from sovgw.adapters.salesforce.records import SalesforceRecords, sobject_api
from sovgw.adapters.salesforce.schema import epoch_seconds, salesforce_datetime
from sovgw.domain.errors import RejectedInput
from sovgw.domain.write_back import GrantRecord


class SalesforceBreakGlass:
    """``SalesforceAccess`` for break-glass grants, over the EMERGENCY lane."""

    def __init__(self, records: SalesforceRecords) -> None:
        self._records = records

    def user_exists(self, user_id: str) -> bool:
        return bool(self._records.query(format_soql(schema.USER_SOQL, user_id)))

    def permission_set_id(self, name: str) -> str | None:
        rows = self._records.query(format_soql(schema.PERMISSION_SET_SOQL, name))
        return str(rows[0]["Id"]) if rows else None

    def holds_permission_set(self, user_id: str, name: str, at_ms: int) -> bool:
        """An assignment of the set named ``name`` to the user that has not expired at
        ``at_ms`` (one without ``ExpirationDate`` never does)."""
        permission_set = self.permission_set_id(name)
        if permission_set is None:
            return False
        rows = self._records.query(format_soql(schema.ASSIGNMENTS_SOQL, user_id, permission_set))
        return any(
            not row.get("ExpirationDate") or epoch_seconds(row["ExpirationDate"]) * 1000 > at_ms
            for row in rows
        )

    def find_assignment(
        self, user_id: str, permission_set_id: str, expires_at_ms: int
    ) -> str | None:
        """The assignment an earlier try of this grant made (same user, set and expiry), so a
        retried step never assigns twice; someone's standing assignment is never taken."""
        rows = self._records.query(format_soql(schema.ASSIGNMENTS_SOQL, user_id, permission_set_id))
        for row in rows:
            expires = row.get("ExpirationDate")
            if expires and int(epoch_seconds(expires)) == expires_at_ms // 1000:
                return str(row["Id"])
        return None

    def assign(self, user_id: str, permission_set_id: str, expires_at_ms: int) -> str:
        body = {
            "AssigneeId": user_id,
            "PermissionSetId": permission_set_id,
            "ExpirationDate": salesforce_datetime(expires_at_ms),
        }
        created = self._records.call(
            lambda sf: sobject_api(sf, schema.PERMISSION_SET_ASSIGNMENT).create(body)
        )
        return str(created["id"])

    def unassign(self, assignment_id: str) -> None:
        with contextlib.suppress(RejectedInput):  # gone already (removed earlier, or expired)
            self._records.call(
                lambda sf: sobject_api(sf, schema.PERMISSION_SET_ASSIGNMENT).delete(assignment_id)
            )

    def end_sessions(self) -> int:
        return self._records.end_sessions()

    def upsert_grant_record(self, request_id: str, record: GrantRecord) -> None:
        body = schema.grant_record_fields(record)
        path = f"{schema.BREAK_GLASS_GRANT_EXTERNAL_ID}/{quote(request_id, safe='')}"
        self._records.call(lambda sf: sobject_api(sf, schema.BREAK_GLASS_GRANT).upsert(path, body))
