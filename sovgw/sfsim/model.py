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

SYSTEM_FIELDS = ("Id", "CreatedDate", "CreatedById", "LastModifiedDate", "SystemModstamp")
EVENT_FIELDS = ("CreatedDate", "CreatedById", "EventUuid", "ReplayId")
READ_ONLY_TYPES = {"id", "autonumber"}
STRING_LIMITS = {"string": 255, "email": 80, "phone": 40, "picklist": 255, "textarea": 131_072}
EVENT_RETENTION = timedelta(hours=72)
API_WINDOW = timedelta(hours=24)
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


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
class FieldSpec:
    name: str
    type: str
    required: bool


@dataclass(frozen=True)
class ObjectType:
    name: str
    prefix: str
    kind: str
    fields: dict[str, FieldSpec]
    readonly: bool = False
    external_ids: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec:
        spec = self.fields.get(name.lower())
        if spec is None:
            raise soql.SoqlError(
                "INVALID_FIELD", f"No such column '{name}' on entity '{self.name}'."
            )
        return spec


def load_schema() -> dict[str, ObjectType]:
    """Object types from ``schema.yaml``, keyed by lower-case API name."""
    raw = yaml.safe_load(resources.files("sovgw.sfsim").joinpath("schema.yaml").read_text())
    types: dict[str, ObjectType] = {}
    for kind, section in (("sobject", "sobjects"), ("platform_event", "platform_events")):
        for name, spec in raw[section].items():
            fields: dict[str, FieldSpec] = {}
            system = SYSTEM_FIELDS if kind == "sobject" else EVENT_FIELDS
            for system_field in system:
                ftype = "id" if system_field == "Id" else "datetime"
                if system_field in {"CreatedById", "EventUuid", "ReplayId"}:
                    ftype = "id"
                fields[system_field.lower()] = FieldSpec(system_field, ftype, False)
            for fname, ftype in spec["fields"].items():
                required = ftype.endswith("!")
                fields[fname.lower()] = FieldSpec(fname, ftype.rstrip("!"), required)
            prefix = spec.get("prefix", "e00")
            types[name.lower()] = ObjectType(
                name,
                prefix,
                kind,
                fields,
                spec.get("readonly", False),
                tuple(spec.get("external_ids", ())),
            )
    return types


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
class RelayChannel:
    """An Event Relay from this org to one EventBridge bus (platform events channel)."""

    channel_id: str
    bus_name: str
    region: str
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
    ids: IdFactory = field(init=False)
    autonumber: int = 1000
    replay_counter: int = 0

    def __post_init__(self) -> None:
        self.ids = IdFactory(self.pod)


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)
