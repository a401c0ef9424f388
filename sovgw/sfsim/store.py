"""The org store every API of the simulator shares: its clock, orgs, users, apps, tokens and
records, records validated against the schema, and the administration that seeds them
(not part of Salesforce's API)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sovgw.sfsim.ids import is_valid_id, to18
from sovgw.sfsim.metadata import (
    STRING_LIMITS,
    FieldSpec,
    ProjectMetadata,
    default_source,
    load_project,
)
from sovgw.sfsim.model import (
    API_WINDOW,
    EVENT_FIELDS,
    MINIMUM_ACCESS_PROFILE,
    READ_ONLY_TYPES,
    SYSTEM_FIELDS,
    ConnectedApp,
    Fault,
    IssuedToken,
    ObjectType,
    RestError,
    SimOrg,
    UserAccess,
    UserAuth,
    hash_password,
    load_schema,
)


class OrgStore:
    """All orgs, tokens and connected apps of one simulated Salesforce instance."""

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        project: ProjectMetadata | None = None,
    ) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._offset = timedelta()
        self.lock = threading.RLock()
        self.project = project or load_project(default_source())
        self.types = load_schema(self.project)
        self.orgs: dict[str, SimOrg] = {}
        self.apps: dict[str, tuple[str, ConnectedApp]] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.refused_sessions = 0  # requests answered INVALID_SESSION_ID (stampede benchmarks)
        self.base_url = "https://127.0.0.1"

    # --- time ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (token expiry, lockouts, rolling limits)."""
        with self.lock:
            self._offset += timedelta(seconds=seconds)

    # --- administration (seeding; not part of the API surface) -------------------------------

    def add_org(self, org_id: str, name: str, **settings: Any) -> SimOrg:
        with self.lock:
            org = SimOrg(org_id=to18(org_id), name=name, pod=org_id[3:5], **settings)
            self.orgs[org_id[:15]] = org
            return org

    def org(self, org_id: str) -> SimOrg:
        try:
            return self.orgs[org_id[:15]]
        except KeyError:
            raise KeyError(f"no simulated org {org_id}") from None

    def add_user(
        self,
        org: SimOrg,
        username: str,
        email: str,
        last_name: str,
        *,
        password: str | None = None,
        user_id: str | None = None,
        profile: str | None = None,
    ) -> str:
        with self.lock:
            user_id = self.insert(
                org,
                "User",
                {"Username": username, "Email": email, "LastName": last_name, "IsActive": True},
                record_id=user_id,
            )
            auth = UserAuth(username=username)
            if profile is not None:
                auth.profile = profile
            if password is not None:
                auth.password_hash = hash_password(password, auth.salt)
            org.users[user_id] = auth
            return user_id

    def deploy_project(self, org: SimOrg) -> None:
        """What ``sf project deploy start`` leaves in an org besides the schema: the custom
        metadata records and the permission sets (as ``PermissionSet`` records)."""
        with self.lock:
            for sobject, values in self.project.custom_metadata_records:
                self.insert(org, sobject, values)
            for permission_set in self.project.permission_sets.values():
                self.insert(
                    org,
                    "PermissionSet",
                    {"Name": permission_set.name, "Label": permission_set.label},
                )

    def assign_permission_set(self, org: SimOrg, user_id: str, name: str) -> str:
        with self.lock:
            matches = [
                record_id
                for record_id, record in org.records.get("PermissionSet", {}).items()
                if record["Name"] == name
            ]
            if len(matches) != 1:
                raise KeyError(f"org {org.org_id} has {len(matches)} permission sets named {name}")
            return self.insert(
                org,
                "PermissionSetAssignment",
                {"AssigneeId": user_id, "PermissionSetId": matches[0]},
            )

    def access(self, org: SimOrg, user_id: str | None) -> UserAccess | None:
        """What ``user_id`` may touch, or None when its profile does not restrict it (an
        administrator, or the simulator's own seeding)."""
        with self.lock:
            auth = org.users.get(user_id or "")
            if auth is None or auth.profile != MINIMUM_ACCESS_PROFILE:
                return None
            sets = {r["Id"]: r["Name"] for r in org.records.get("PermissionSet", {}).values()}
            assigned = self.visible(org, self.object_type("PermissionSetAssignment")).values()
            return UserAccess.union(
                [
                    self.project.permission_sets[sets[a["PermissionSetId"]]]
                    for a in assigned
                    if a["AssigneeId"] == user_id
                    and sets.get(a["PermissionSetId"]) in self.project.permission_sets
                ]
            )

    def visible(self, org: SimOrg, otype: ObjectType) -> dict[str, dict[str, Any]]:
        """The records of ``otype``; an expired permission set assignment disappears only
        ``assignment_expiry_lag_seconds`` after its expiry, as Salesforce's job removes it."""
        table = org.records.setdefault(otype.name, {})
        if otype.name == "PermissionSetAssignment":
            lag = timedelta(seconds=org.assignment_expiry_lag_seconds)
            for record_id, record in list(table.items()):
                expiry = record.get("ExpirationDate")
                if (
                    expiry
                    and datetime.fromisoformat(expiry.replace("+0000", "+00:00")) + lag
                    <= self.now()
                ):
                    del table[record_id]
        return table

    def add_app(self, org: SimOrg, app: ConnectedApp) -> None:
        with self.lock:
            self.apps[app.client_id] = (org.org_id[:15], app)

    def insert(
        self,
        org: SimOrg,
        sobject: str,
        values: Mapping[str, Any],
        record_id: str | None = None,
        created_by: str | None = None,
    ) -> str:
        """Create a record without charging API usage (for seeding and system records)."""
        with self.lock:
            otype = self.object_type(sobject)
            record = self.validated(org, otype, values, creating=True, system=True)
            record_id = to18(record_id) if record_id else org.ids.next(otype.prefix)
            self.store_new(org, otype, record, record_id, created_by or record_id)
            return record_id

    def store_new(
        self,
        org: SimOrg,
        otype: ObjectType,
        record: dict[str, Any],
        record_id: str,
        created_by: str,
    ) -> None:
        """Stamp the system fields and store a new record."""
        now = self.iso(self.now())
        record.update(
            Id=record_id,
            CreatedDate=now,
            LastModifiedDate=now,
            SystemModstamp=now,
            CreatedById=created_by,
        )
        org.records.setdefault(otype.name, {})[record_id] = record

    def expire_sessions(self, org: SimOrg) -> int:
        """Expire every access token of ``org`` (as a session timeout or admin action would)."""
        with self.lock:
            count = 0
            for token in self.tokens.values():
                if token.org_id == org.org_id and token.kind == "access" and not token.revoked:
                    token.expires_at = self.now() - timedelta(seconds=1)
                    count += 1
            return count

    def inject_fault(self, org: SimOrg, fault: Fault) -> None:
        with self.lock:
            org.faults.append(fault)

    def api_usage(self, org: SimOrg) -> tuple[int, int]:
        with self.lock:
            cutoff = self.now() - API_WINDOW
            while org.api_calls and org.api_calls[0] <= cutoff:
                org.api_calls.popleft()
            return len(org.api_calls), org.daily_api_limit

    def is_locked(self, org: SimOrg, user_id: str) -> bool:
        auth = org.users[user_id]
        return auth.locked_until is not None and auth.locked_until > self.now()

    def object_type(self, sobject: str) -> ObjectType:
        otype = self.types.get(sobject.lower())
        if otype is None:
            raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
        return otype

    @staticmethod
    def iso(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    def validated(
        self,
        org: SimOrg,
        otype: ObjectType,
        values: Mapping[str, Any],
        *,
        creating: bool,
        system: bool,
        access: UserAccess | None = None,
    ) -> dict[str, Any]:
        if not isinstance(values, Mapping):
            raise RestError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        record: dict[str, Any] = {}
        for name, value in values.items():
            if name == "attributes":
                continue
            spec = otype.fields.get(str(name).lower())
            if spec is None or (access is not None and not access.reads(otype, spec)):
                raise RestError(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {otype.name}"
                )
            if not system and (
                spec.type in READ_ONLY_TYPES
                or spec.name in SYSTEM_FIELDS
                or spec.name in EVENT_FIELDS
                or (access is not None and not access.edits(otype, spec))
            ):
                raise RestError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {spec.name}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile "
                    "or permission set.",
                    [spec.name],
                )
            record[spec.name] = self.coerce(spec, value)
            if (
                not system
                and spec.picklist is not None
                and value is not None
                and value not in spec.picklist
            ):
                raise RestError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{spec.name}: bad value for restricted picklist field: {value}",
                    [spec.name],
                )
        if creating:
            missing = [
                s.name
                for s in otype.fields.values()
                if s.required and record.get(s.name) in (None, "")
            ]
            if missing:
                raise RestError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: {missing}",
                    missing,
                )
            for spec in otype.fields.values():
                if spec.type == "autonumber":
                    org.autonumber += 1
                    record[spec.name] = f"{org.autonumber:08d}"
        if (
            otype.name == "PermissionSetAssignment"
            and record.get("ExpirationDate")
            and (
                datetime.fromisoformat(record["ExpirationDate"].replace("+0000", "+00:00"))
                <= self.now()
            )
        ):
            raise RestError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "Expiration Date must be in the future",
                ["ExpirationDate"],
            )
        return record

    def coerce(self, spec: FieldSpec, value: Any) -> Any:
        if value is None:
            return None
        kind = spec.type
        bad = RestError(
            400, "JSON_PARSER_ERROR", f"Cannot deserialize value of field {spec.name} as {kind}"
        )
        if kind in STRING_LIMITS:
            if not isinstance(value, str):
                raise bad
            if len(value) > (spec.max_length or 0):
                raise RestError(
                    400, "STRING_TOO_LONG", f"{spec.name}: data value too large", [spec.name]
                )
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise bad
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad
            return value
        if kind == "double":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad
            return value
        if kind in {"reference", "id"}:
            if not isinstance(value, str) or not is_valid_id(value):
                raise RestError(
                    400, "MALFORMED_ID", f"{spec.name}: id value of incorrect type", [spec.name]
                )
            return to18(value)
        if kind == "date":
            try:
                return date.fromisoformat(str(value)).isoformat()
            except ValueError:
                raise bad from None
        if kind == "datetime":
            try:
                parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise bad from None
            return self.iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
        return value
