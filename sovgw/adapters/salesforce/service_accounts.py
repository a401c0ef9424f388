"""The org's service accounts as Salesforce records them, read for the access review as the
org's monitor user (View Setup; never as an integration user): users, their permission-set
assignments with expiry, and their logins."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from simple_salesforce.format import format_soql

from sovgw.adapters.salesforce import schema
from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.adapters.salesforce.schema import epoch_seconds
from sovgw.domain.access_review import Assignment, Login, ServiceUser


def _moment(iso: str | None) -> datetime | None:
    return datetime.fromtimestamp(epoch_seconds(iso), UTC) if iso else None


class ServiceAccounts:
    def __init__(self, records: SalesforceRecords) -> None:
        self._records = records

    def users(self, ids: Collection[str]) -> dict[str, ServiceUser]:
        if not ids:
            return {}
        rows = self._records.query(format_soql(schema.SERVICE_USERS_SOQL, sorted(ids)))
        return {
            str(r["Id"]): ServiceUser(
                str(r["Id"]), str(r["Username"]), r.get("IsActive") is not False
            )
            for r in rows
        }

    def assignments(self, user_ids: Collection[str]) -> list[Assignment]:
        if not user_ids:
            return []
        rows = self._records.query(format_soql(schema.USER_ASSIGNMENTS_SOQL, sorted(user_ids)))
        set_ids = sorted({str(r["PermissionSetId"]) for r in rows})
        names = {
            str(r["Id"]): str(r["Name"])
            for r in (
                self._records.query(format_soql(schema.PERMISSION_SET_NAMES_SOQL, set_ids))
                if set_ids
                else []
            )
        }
        return [
            Assignment(
                str(r["AssigneeId"]),
                names.get(str(r["PermissionSetId"]), str(r["PermissionSetId"])),
                _moment(r.get("ExpirationDate")),
            )
            for r in rows
        ]

    def logins(self, user_ids: Collection[str], since: datetime, until: datetime) -> list[Login]:
        if not user_ids:
            return []
        rows = self._records.query(format_soql(schema.LOGINS_SOQL, sorted(user_ids), since, until))
        return [
            Login(str(r["UserId"]), at, str(r.get("Status")))
            for r in rows
            if (at := _moment(r.get("LoginTime"))) is not None
        ]
