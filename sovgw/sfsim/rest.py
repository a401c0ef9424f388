"""The REST API: authentication of each call, API limits and faults, sObject CRUD and upsert,
and SOQL; a platform event inserted through it is published by the relay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sovgw.sfsim import soql
from sovgw.sfsim.ids import is_valid_id, to18
from sovgw.sfsim.model import (
    IssuedToken,
    ObjectType,
    RestError,
    SimOrg,
    UserAccess,
)
from sovgw.sfsim.relay import RelayApi
from sovgw.sfsim.store import OrgStore


class RestApi:
    """``/services/data/vXX.X``: records, queries and limits of the caller's org."""

    def __init__(self, store: OrgStore, relay: RelayApi) -> None:
        self.store = store
        self.relay = relay

    # --- REST API ----------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> tuple[SimOrg, IssuedToken]:
        with self.store.lock:
            value = (authorization or "").removeprefix("Bearer ").removeprefix("OAuth ").strip()
            token = self.store.tokens.get(value)
            if (
                token is None
                or token.kind != "access"
                or token.revoked
                or (token.expires_at is not None and token.expires_at <= self.store.now())
            ):
                self.store.refused_sessions += 1
                raise RestError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            return self.store.orgs[token.org_id[:15]], token

    def charge_api(self, org: SimOrg, method: str, path: str) -> None:
        """Count one API request against the rolling 24 h limit, or refuse it."""
        with self.store.lock:
            used, limit = self.store.api_usage(org)
            if used >= limit:
                raise RestError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            org.api_calls.append(self.store.now())
            for fault in org.faults:
                if (
                    fault.remaining > 0
                    and fault.method in {method, "*"}
                    and fault.path_contains in path
                ):
                    if fault.passes > 0:
                        fault.passes -= 1
                        continue
                    fault.remaining -= 1
                    raise RestError(fault.status, fault.code, fault.message)

    def limits(self, org: SimOrg) -> dict[str, Any]:
        used, limit = self.store.api_usage(org)
        return {
            "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
            "ConcurrentPerOrgLongTxn": {"Max": 25, "Remaining": 25},
            "DailyStandardVolumePlatformEvents": {
                "Max": 50_000,
                "Remaining": 50_000 - len(org.events),
            },
        }

    def _allowed(
        self, org: SimOrg, otype: ObjectType, user_id: str | None, operation: str
    ) -> UserAccess | None:
        """The caller's access (None: unrestricted); refuses an object it may not ``operation``."""
        access = self.store.access(org, user_id)
        if access is None or access.may(otype, operation):
            return access
        if operation == "read":
            raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
        raise RestError(
            400,
            "INSUFFICIENT_ACCESS_OR_READONLY",
            f"insufficient access rights on object {otype.name} to {operation}",
        )

    def _shape(
        self,
        otype: ObjectType,
        record: Mapping[str, Any],
        fields: list[str] | None,
        version: str,
        access: UserAccess | None = None,
    ) -> dict[str, Any]:
        names = fields or [
            spec.name
            for spec in otype.fields.values()
            if access is None or access.reads(otype, spec)
        ]
        shaped: dict[str, Any] = {
            "attributes": {
                "type": otype.name,
                "url": f"/services/data/v{version}/sobjects/{otype.name}/{record['Id']}",
            }
        }
        for name in names:
            shaped[name] = record.get(name)
        return shaped

    def get(
        self,
        org: SimOrg,
        sobject: str,
        record_id: str,
        fields: str | None,
        version: str,
        *,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        with self.store.lock:
            otype = self.store.object_type(sobject)
            if otype.kind == "platform_event" or not is_valid_id(record_id):
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            access = self._allowed(org, otype, user_id, "read")
            record = self.store.visible(org, otype).get(to18(record_id))
            if record is None:
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            names = None
            if fields:
                try:
                    names = [
                        self._readable(otype, name.strip(), access) for name in fields.split(",")
                    ]
                except soql.SoqlError as error:
                    raise RestError(400, error.code, error.message) from None
            return self._shape(otype, record, names, version, access)

    @staticmethod
    def _readable(otype: ObjectType, name: str, access: UserAccess | None) -> str:
        """A field's API name, or INVALID_FIELD as for an unknown one when the caller's
        field-level security hides it (Salesforce does not say the field exists)."""
        spec = otype.field(name)
        if access is not None and not access.reads(otype, spec):
            raise soql.SoqlError(
                "INVALID_FIELD", f"No such column '{name}' on entity '{otype.name}'."
            )
        return spec.name

    def create(self, org: SimOrg, sobject: str, values: Any, user_id: str) -> dict[str, Any]:
        with self.store.lock:
            otype = self.store.object_type(sobject)
            if otype.readonly:
                raise RestError(
                    400,
                    "INVALID_TYPE_FOR_OPERATION",
                    f"entity type {otype.name} does not support insert",
                )
            access = self._allowed(org, otype, user_id, "create")
            if otype.kind == "platform_event":
                return self.relay.publish(org, otype, values, user_id, access)
            record = self.store.validated(
                org, otype, values, creating=True, system=False, access=access
            )
            record_id = org.ids.next(otype.prefix)
            self.store.store_new(org, otype, record, record_id, user_id)
            return {"id": record_id, "success": True, "errors": []}

    def upsert(
        self, org: SimOrg, sobject: str, field: str, value: str, *, values: Any, user_id: str
    ) -> tuple[bool, dict[str, Any]]:
        """``PATCH sobjects/<Type>/<ExternalIdField>/<value>``: update the record with that
        external id, or create it; atomic under the simulator's lock, as in Salesforce."""
        with self.store.lock:
            otype = self.store.object_type(sobject)
            spec = otype.fields.get(field.lower())
            if spec is None or spec.name not in otype.external_ids:
                raise RestError(
                    400,
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {field}",
                )
            if isinstance(values, Mapping) and spec.name in values:
                raise RestError(
                    400, "INVALID_FIELD", f"{spec.name} is given in the URL; omit it from the body"
                )
            table = self.store.visible(org, otype)
            matches = [rid for rid, rec in table.items() if rec.get(spec.name) == value]
            if len(matches) > 1:
                raise RestError(
                    300, "MULTIPLE_RECORDS", f"more than one record has {spec.name} = {value}"
                )
            if matches:
                access = self._allowed(org, otype, user_id, "edit")
                changes = self.store.validated(
                    org, otype, values, creating=False, system=False, access=access
                )
                table[matches[0]].update(changes, LastModifiedDate=self.store.iso(self.store.now()))
                return False, {"id": matches[0], "success": True, "errors": [], "created": False}
            created = self.create(org, sobject, {**dict(values), spec.name: value}, user_id)
            return True, {**created, "created": True}

    def update(
        self, org: SimOrg, sobject: str, record_id: str, values: Any, user_id: str | None = None
    ) -> None:
        with self.store.lock:
            otype = self.store.object_type(sobject)
            access = self._allowed(org, otype, user_id, "edit")
            table = self.store.visible(org, otype)
            if (
                otype.readonly
                or otype.kind != "sobject"
                or not is_valid_id(record_id)
                or to18(record_id) not in table
            ):
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            changes = self.store.validated(
                org, otype, values, creating=False, system=False, access=access
            )
            table[to18(record_id)].update(
                changes, LastModifiedDate=self.store.iso(self.store.now())
            )

    def delete(self, org: SimOrg, sobject: str, record_id: str, user_id: str | None = None) -> None:
        with self.store.lock:
            otype = self.store.object_type(sobject)
            self._allowed(org, otype, user_id, "delete")
            table = self.store.visible(org, otype)
            if otype.readonly or not is_valid_id(record_id) or to18(record_id) not in table:
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            del table[to18(record_id)]

    def select(
        self, org: SimOrg, text: str, user_id: str | None = None
    ) -> tuple[soql.Query, ObjectType, list[Mapping[str, Any]], UserAccess | None]:
        """Parse ``text`` as the caller may read and run it: the query, its object, the rows
        and the caller's access (the REST query and Bulk API 2.0 both use this)."""
        with self.store.lock:
            access = self.store.access(org, user_id)

            def resolve_object(name: str) -> str:
                otype = self.store.types.get(name.lower())
                if (
                    otype is None
                    or otype.kind == "platform_event"
                    or (access is not None and not access.may(otype, "read"))
                ):
                    raise soql.SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
                return otype.name

            def resolve_field(sobject: str, name: str) -> str:
                return self._readable(self.store.types[sobject.lower()], name, access)

            try:
                parsed = soql.parse(text, resolve_object, resolve_field)
            except soql.SoqlError as error:
                raise RestError(400, error.code, error.message) from None
            if org.relay is not None and parsed.sobject == "EventRelayFeedback":
                self.relay.refresh_feedback(org)
            otype = self.store.types[parsed.sobject.lower()]
            rows = soql.execute(parsed, list(self.store.visible(org, otype).values()))
            return parsed, otype, rows, access

    def query(
        self, org: SimOrg, text: str, version: str, user_id: str | None = None
    ) -> dict[str, Any]:
        with self.store.lock:
            parsed, otype, rows, access = self.select(org, text, user_id)
            if parsed.count_only:
                return {"totalSize": len(rows), "done": True, "records": []}
            return {
                "totalSize": len(rows),
                "done": True,
                "records": [
                    self._shape(otype, row, parsed.fields, version, access) for row in rows
                ],
            }
