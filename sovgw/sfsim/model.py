"""What the simulated Salesforce holds: orgs, users, connected apps, tokens, records, events,
relays, injected faults, and the errors its APIs answer with (shapes from Salesforce's docs)."""

from __future__ import annotations

import hashlib
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import yaml

from sovgw.sfsim import soql
from sovgw.sfsim.ids import IdFactory
from sovgw.sfsim.metadata import (
    CMDT_FIELDS,
    FieldSpec,
    ObjectAccess,
    PermissionSetSource,
    ProjectMetadata,
    default_source,
    load_project,
)

SYSTEM_FIELDS = ("Id", "CreatedDate", "CreatedById", "LastModifiedDate", "SystemModstamp")
EVENT_FIELDS = ("CreatedDate", "CreatedById", "EventUuid", "ReplayId")
READ_ONLY_TYPES = {"id", "autonumber"}
EVENT_RETENTION = timedelta(hours=72)
API_WINDOW = timedelta(hours=24)
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The profile Salesforce recommends for integration users: no access of its own, everything
# through permission sets (so field-level security is exactly what the permission sets grant).
MINIMUM_ACCESS_PROFILE = "Minimum Access - API Only Integrations"


class RestError(Exception):
    """A REST API error: HTTP status and Salesforce's ``[{"message", "errorCode"}]`` body."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: list[dict[str, Any]] = [{"message": message, "errorCode": code}]
        if fields is not None:
            self.body[0]["fields"] = fields


class OAuthError(Exception):
    """An OAuth endpoint error: HTTP status and ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


@dataclass(frozen=True)
class ObjectType:
    name: str
    prefix: str
    kind: str  # sobject | platform_event | custom_metadata
    fields: dict[str, FieldSpec]
    readonly: bool = False
    external_ids: tuple[str, ...] = ()
    setup: bool = False  # governed by user permissions, not object permissions and FLS
    user_permission: str | None = None  # needed to read it (ViewSetup for relay set-up)

    def field(self, name: str) -> FieldSpec:
        spec = self.fields.get(name.lower())
        if spec is None:
            raise soql.SoqlError(
                "INVALID_FIELD", f"No such column '{name}' on entity '{self.name}'."
            )
        return spec

    def always_accessible(self, spec: FieldSpec) -> bool:
        """Fields Salesforce allows no field-level security on: system fields, required fields
        and auto-numbers; every custom metadata field (its type access governs them)."""
        return (
            spec.required
            or spec.type in READ_ONLY_TYPES
            or spec.name in SYSTEM_FIELDS
            or spec.name in EVENT_FIELDS
            or self.kind == "custom_metadata"
        )


def _system_fields(kind: str) -> dict[str, FieldSpec]:
    names = EVENT_FIELDS if kind == "platform_event" else SYSTEM_FIELDS
    if kind == "custom_metadata":
        names = (*names, *CMDT_FIELDS)
    types = {"Id": "id", "CreatedById": "id", "EventUuid": "id", "ReplayId": "id"}
    return {
        name.lower(): FieldSpec(
            name, types.get(name, "string" if name in CMDT_FIELDS else "datetime"), False
        )
        for name in names
    }


def _standard_objects() -> dict[str, ObjectType]:
    raw = yaml.safe_load(
        resources.files("sovgw.sfsim").joinpath("standard_objects.yaml").read_text()
    )
    types: dict[str, ObjectType] = {}
    for name, spec in raw["sobjects"].items():
        fields = _system_fields("sobject")
        for fname, ftype in spec["fields"].items():
            fields[fname.lower()] = FieldSpec(fname, ftype.rstrip("!"), ftype.endswith("!"))
        types[name.lower()] = ObjectType(
            name,
            spec["prefix"],
            "sobject",
            fields,
            readonly=spec.get("readonly", False),
            setup=spec.get("setup", False),
            user_permission=spec.get("user_permission"),
        )
    return types


def _project_objects(project: ProjectMetadata) -> dict[str, ObjectType]:
    """Custom objects get key prefixes a01, a02 ... in name order (an org assigns its own)."""
    types: dict[str, ObjectType] = {}
    counters = {"sobject": 0, "platform_event": 0, "custom_metadata": 0}
    for source in project.objects:
        counters[source.kind] += 1
        letter = {"sobject": "a", "platform_event": "e", "custom_metadata": "m"}[source.kind]
        fields = _system_fields(source.kind)
        for spec in source.fields:
            fields[spec.name.lower()] = spec
        types[source.name.lower()] = ObjectType(
            source.name,
            f"{letter}{counters[source.kind]:02d}",
            source.kind,
            fields,
            readonly=source.kind == "custom_metadata",  # deployed, never DML'd through the API
            external_ids=source.external_ids,
        )
    return types


def load_schema(project: ProjectMetadata | None = None) -> dict[str, ObjectType]:
    """Standard objects and the project's own, keyed by lower-case API name."""
    project = project or load_project(default_source())
    return {**_standard_objects(), **_project_objects(project)}


@dataclass(frozen=True)
class UserAccess:
    """What a minimum-access user may do: the union of its assigned permission sets. Setup
    objects are outside it (user permissions govern them; the simulator does not model those)."""

    objects: dict[str, ObjectAccess]
    fields: dict[str, tuple[bool, bool]]
    custom_metadata_types: frozenset[str]
    user_permissions: frozenset[str] = frozenset()

    @classmethod
    def union(cls, grants: list[PermissionSetSource]) -> UserAccess:
        objects: dict[str, ObjectAccess] = {}
        fields: dict[str, tuple[bool, bool]] = {}
        for grant in grants:
            for name, access in grant.objects.items():
                had = objects.get(name, ObjectAccess(False, False, False, False))
                objects[name] = ObjectAccess(
                    had.read or access.read,
                    had.create or access.create,
                    had.edit or access.edit,
                    had.delete or access.delete,
                )
            for name, (readable, editable) in grant.fields.items():
                was = fields.get(name, (False, False))
                fields[name] = (was[0] or readable, was[1] or editable)
        types = frozenset().union(*(g.custom_metadata_types for g in grants))
        permissions = frozenset().union(*(g.user_permissions for g in grants))
        return cls(objects, fields, types, permissions)

    def may(self, otype: ObjectType, operation: str) -> bool:
        """``operation``: read, create, edit or delete."""
        if otype.setup:
            return otype.user_permission is None or otype.user_permission in self.user_permissions
        if otype.kind == "custom_metadata":
            return operation == "read" and otype.name.lower() in self.custom_metadata_types
        access = self.objects.get(otype.name.lower())
        return access is not None and bool(getattr(access, operation))

    def reads(self, otype: ObjectType, spec: FieldSpec) -> bool:
        if otype.setup or otype.always_accessible(spec):
            return self.may(otype, "read")
        return self.fields.get(f"{otype.name}.{spec.name}".lower(), (False, False))[0]

    def edits(self, otype: ObjectType, spec: FieldSpec) -> bool:
        if otype.setup or otype.always_accessible(spec):
            return True
        return self.fields.get(f"{otype.name}.{spec.name}".lower(), (False, False))[1]


@dataclass
class ConnectedApp:
    client_id: str
    client_secret: str
    run_as_user_id: str | None = None
    jwt_public_key_pem: str | None = None
    rotate_refresh_tokens: bool = False
    # OAuth staged credentials: a second secret that works alongside the current one until
    # it is rotated in (then the old one stops working) or deleted.
    staged_secret: str | None = None


@dataclass
class UserAuth:
    username: str
    password_hash: bytes | None = None
    salt: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    failed_attempts: int = 0
    locked_until: datetime | None = None
    logins: deque[datetime] = field(default_factory=deque)
    profile: str = "System Administrator"


@dataclass
class IssuedToken:
    value: str
    kind: str
    org_id: str
    user_id: str
    client_id: str
    issued_at: datetime
    expires_at: datetime | None
    parent: str | None = None
    revoked: bool = False


@dataclass
class PublishedEvent:
    name: str
    payload: dict[str, Any]
    event_uuid: str
    replay_id: int
    schema_id: str
    published_at: datetime


@dataclass
class Fault:
    """Make matching requests fail: for resilience tests (issue #5 uses these)."""

    method: str
    path_contains: str
    status: int
    code: str
    message: str
    remaining: int
    passes: int = 0  # matching requests let through before the first failure


@dataclass
class BulkQueryJob:
    """A Bulk API 2.0 query job. Its rows are read when it is processed; a results page is
    found again by its locator for as long as the job exists (seven days, or until deleted)."""

    id: str
    operation: str  # query | queryAll
    sobject: str
    query: str
    created_by: str
    created: datetime
    api_version: str
    column_delimiter: str
    line_ending: str
    state: str = "UploadComplete"
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    modified: datetime | None = None
    error: str | None = None  # why a Failed job failed


@dataclass
class RelayChannel:
    """An Event Relay from this org to one EventBridge bus (platform events channel), with
    the set-up records Salesforce keeps for it: its ``EventRelayConfig`` and, when
    ``endpoint`` is given, the named credential it calls out to."""

    channel_id: str
    bus_name: str
    region: str
    developer_name: str = "Sovgw_Relay"
    event_channel: str = "Sovgw__chn"
    named_credential: str = "Sovgw_AWS"
    endpoint: str | None = None
    config_id: str | None = None
    status: str = "RUN"
    error_code: str | None = None
    error_message: str | None = None
    error_time: datetime | None = None
    last_relayed: datetime | None = None
    position: int = 0


@dataclass
class SimOrg:
    org_id: str
    name: str
    pod: str
    daily_api_limit: int = 15_000
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    logins_per_user_per_hour: int = 3_600
    session_seconds: int = 7_200
    assignment_expiry_lag_seconds: int = 3_600
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    users: dict[str, UserAuth] = field(default_factory=dict)
    api_calls: deque[datetime] = field(default_factory=deque)
    events: list[PublishedEvent] = field(default_factory=list)
    relay: RelayChannel | None = None
    faults: list[Fault] = field(default_factory=list)
    bulk_query_jobs: dict[str, BulkQueryJob] = field(default_factory=dict)
    daily_bulk_query_jobs: int = 10_000  # DailyBulkV2QueryJobs
    ids: IdFactory = field(init=False)
    autonumber: int = 1000
    replay_counter: int = 0

    def __post_init__(self) -> None:
        self.ids = IdFactory(self.pod)


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)
