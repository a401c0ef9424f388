"""Simulator state and behaviour, independent of HTTP: orgs, records, OAuth, limits, events.

One ``Simulator`` hosts several orgs; a token belongs to exactly one org, so a client of
org A can never read org B (tenant isolation is part of what the tests check).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import jwt
import yaml

from sovgw.sfsim import soql
from sovgw.sfsim.ids import IdFactory, is_valid_id, to18

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


def _hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)


class Simulator:
    """All orgs, tokens and connected apps of one simulated Salesforce instance."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._offset = timedelta()
        self.lock = threading.RLock()
        self.types = load_schema()
        self.orgs: dict[str, SimOrg] = {}
        self.apps: dict[str, tuple[str, ConnectedApp]] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.refused_sessions = 0  # requests answered INVALID_SESSION_ID (stampede benchmarks)
        self.base_url = "https://127.0.0.1"
        self.relay_sender: Callable[[SimOrg, RelayChannel, PublishedEvent], None] | None = None
        self._relay_wakeup = threading.Condition(self.lock)

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
    ) -> str:
        with self.lock:
            user_id = self.insert(
                org,
                "User",
                {"Username": username, "Email": email, "LastName": last_name, "IsActive": True},
                record_id=user_id,
            )
            auth = UserAuth(username=username)
            if password is not None:
                auth.password_hash = _hash_password(password, auth.salt)
            org.users[user_id] = auth
            return user_id

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
            otype = self._type(sobject)
            record = self._validated(org, otype, values, creating=True, system=True)
            record_id = to18(record_id) if record_id else org.ids.next(otype.prefix)
            self._store_new(org, otype, record, record_id, created_by or record_id)
            return record_id

    def _store_new(
        self,
        org: SimOrg,
        otype: ObjectType,
        record: dict[str, Any],
        record_id: str,
        created_by: str,
    ) -> None:
        """Stamp the system fields and store a new record."""
        now = self._iso(self.now())
        record.update(
            Id=record_id,
            CreatedDate=now,
            LastModifiedDate=now,
            SystemModstamp=now,
            CreatedById=created_by,
        )
        org.records.setdefault(otype.name, {})[record_id] = record

    def issue_refresh_token(self, org: SimOrg, user_id: str, client_id: str) -> str:
        """A refresh token as if the user had approved the app (web-server flow's result)."""
        with self.lock:
            return self._issue(org, user_id, client_id, "refresh", None).value

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

    # --- OAuth 2.0 --------------------------------------------------------------------------

    def _issue(
        self, org: SimOrg, user_id: str, client_id: str, kind: str, parent: str | None
    ) -> IssuedToken:
        if kind == "access":
            value = f"{org.org_id[:15]}!{secrets.token_urlsafe(72)}"
            expires: datetime | None = self.now() + timedelta(seconds=org.session_seconds)
        else:
            value = f"5Aep{secrets.token_urlsafe(60)}"
            expires = None
        token = IssuedToken(
            value, kind, org.org_id, user_id, client_id, self.now(), expires, parent
        )
        self.tokens[value] = token
        return token

    def _client(self, client_id: str, client_secret: str | None) -> tuple[SimOrg, ConnectedApp]:
        entry = self.apps.get(client_id)
        if entry is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        org, app = self.orgs[entry[0]], entry[1]
        if client_secret is not None and not any(
            hmac.compare_digest(client_secret, valid)
            for valid in (app.client_secret, app.staged_secret)
            if valid is not None
        ):
            raise OAuthError("invalid_client", "invalid client credentials")
        return org, app

    def _record_login(self, org: SimOrg, user_id: str, status: str, app: ConnectedApp) -> None:
        self.insert(
            org,
            "LoginHistory",
            {
                "UserId": user_id,
                "LoginTime": self._iso(self.now()),
                "Status": status,
                "LoginType": "Remote Access 2.0",
                "Application": app.client_id,
            },
        )

    def _check_login_rate(self, org: SimOrg, user_id: str) -> None:
        auth = org.users[user_id]
        cutoff = self.now() - timedelta(hours=1)
        while auth.logins and auth.logins[0] <= cutoff:
            auth.logins.popleft()
        if len(auth.logins) >= org.logins_per_user_per_hour:
            raise OAuthError("invalid_grant", "LOGIN_RATE_EXCEEDED: too many logins for this user")
        auth.logins.append(self.now())

    def _session_response(
        self, org: SimOrg, token: IssuedToken, refresh: str | None = None
    ) -> dict[str, Any]:
        issued_at = str(int(token.issued_at.timestamp() * 1000))
        signature = hmac.new(org.org_id.encode(), (token.value + issued_at).encode(), "sha256")
        body: dict[str, Any] = {
            "access_token": token.value,
            "instance_url": self.base_url,
            "id": f"{self.base_url}/id/{org.org_id}/{token.user_id}",
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature.hexdigest(),
            "scope": "api refresh_token" if refresh else "api",
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """``POST /services/oauth2/token``."""
        with self.lock:
            grant = form.get("grant_type", "")
            if grant == "client_credentials":
                return self._client_credentials(form)
            if grant == JWT_GRANT:
                return self._jwt_bearer(form)
            if grant == "refresh_token":
                return self._refresh(form)
            if grant == "password":
                return self._password(form)
            raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _client_credentials(self, form: Mapping[str, str]) -> dict[str, Any]:
        org, app = self._client(form.get("client_id", ""), form.get("client_secret", ""))
        if app.run_as_user_id is None:
            raise OAuthError("invalid_grant", "no client credentials user enabled")
        self._check_login_rate(org, app.run_as_user_id)
        if self.is_locked(org, app.run_as_user_id):
            raise OAuthError("invalid_grant", "authentication failure")
        self._record_login(org, app.run_as_user_id, "Success", app)
        return self._session_response(
            org, self._issue(org, app.run_as_user_id, app.client_id, "access", None)
        )

    def _jwt_bearer(self, form: Mapping[str, str]) -> dict[str, Any]:
        assertion = form.get("assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        org, app = self._client(str(unverified.get("iss", "")), None)
        if not app.jwt_public_key_pem:
            raise OAuthError("invalid_client", "invalid client credentials")
        try:
            claims = jwt.decode(
                assertion,
                app.jwt_public_key_pem,
                algorithms=["RS256"],
                audience=[*JWT_AUDIENCES, self.base_url],
                options={"require": ["exp", "sub", "aud"]},
                leeway=0,
            )
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", "audience is invalid") from None
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims["exp"] > (self.now() + timedelta(minutes=5)).timestamp():
            raise OAuthError("invalid_grant", "invalid assertion: exp too far in the future")
        user_id = self._user_by_name(org, str(claims["sub"]))
        if user_id is None:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        self._check_login_rate(org, user_id)
        if self.is_locked(org, user_id):
            raise OAuthError("invalid_grant", "authentication failure")
        self._record_login(org, user_id, "Success", app)
        return self._session_response(org, self._issue(org, user_id, app.client_id, "access", None))

    def _refresh(self, form: Mapping[str, str]) -> dict[str, Any]:
        org, app = self._client(form.get("client_id", ""), form.get("client_secret"))
        presented = self.tokens.get(form.get("refresh_token", ""))
        if (
            presented is None
            or presented.kind != "refresh"
            or presented.revoked
            or presented.client_id != app.client_id
        ):
            raise OAuthError("invalid_grant", "expired access/refresh token")
        refresh_value = presented.value
        if app.rotate_refresh_tokens:
            presented.revoked = True
            refresh_value = self._issue(
                org, presented.user_id, app.client_id, "refresh", None
            ).value
        access = self._issue(org, presented.user_id, app.client_id, "access", refresh_value)
        return self._session_response(
            org, access, refresh_value if app.rotate_refresh_tokens else None
        )

    def _password(self, form: Mapping[str, str]) -> dict[str, Any]:
        org, app = self._client(form.get("client_id", ""), form.get("client_secret", ""))
        user_id = self._user_by_name(org, form.get("username", ""))
        if user_id is None:
            raise OAuthError("invalid_grant", "authentication failure")
        auth = org.users[user_id]
        self._check_login_rate(org, user_id)
        if self.is_locked(org, user_id):
            self._record_login(org, user_id, "Password Lockout", app)
            raise OAuthError("invalid_grant", "authentication failure")
        password = form.get("password", "")
        if auth.password_hash is None or not hmac.compare_digest(
            _hash_password(password, auth.salt), auth.password_hash
        ):
            auth.failed_attempts += 1
            if auth.failed_attempts >= org.lockout_threshold:
                auth.locked_until = self.now() + timedelta(minutes=org.lockout_minutes)
                auth.failed_attempts = 0
            self._record_login(org, user_id, "Invalid Password", app)
            raise OAuthError("invalid_grant", "authentication failure")
        auth.failed_attempts = 0
        self._record_login(org, user_id, "Success", app)
        return self._session_response(org, self._issue(org, user_id, app.client_id, "access", None))

    # --- OAuth staged credentials (Connect REST API, v65.0+) ------------------------------

    def _org_app(self, org: SimOrg, client_id: str) -> ConnectedApp:
        entry = self.apps.get(client_id)
        if entry is None or entry[0] != org.org_id[:15]:
            raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
        return entry[1]

    def stage_credentials(self, org: SimOrg, client_id: str) -> dict[str, Any]:
        """Generate a staged consumer secret; the current one keeps working."""
        with self.lock:
            app = self._org_app(org, client_id)
            if app.staged_secret is not None:
                raise RestError(409, "STAGED_CREDENTIAL_EXISTS", "delete or rotate it first")
            app.staged_secret = secrets.token_urlsafe(32)
            return {"consumerKey": app.client_id, "consumerSecret": app.staged_secret}

    def rotate_staged(self, org: SimOrg, client_id: str) -> dict[str, Any]:
        """The staged secret becomes the only valid one."""
        with self.lock:
            app = self._org_app(org, client_id)
            if app.staged_secret is None:
                raise RestError(404, "NOT_FOUND", "no staged credential")
            app.client_secret, app.staged_secret = app.staged_secret, None
            return {"consumerKey": app.client_id, "rotated": True}

    def delete_staged(self, org: SimOrg, client_id: str) -> None:
        with self.lock:
            app = self._org_app(org, client_id)
            if app.staged_secret is None:
                raise RestError(404, "NOT_FOUND", "no staged credential")
            app.staged_secret = None

    def revoke(self, token_value: str) -> None:
        """``POST /services/oauth2/revoke``: a refresh token takes its access tokens with it."""
        with self.lock:
            token = self.tokens.get(token_value)
            if token is None or token.revoked:
                raise OAuthError("invalid_token", "invalid token")
            token.revoked = True
            if token.kind == "refresh":
                for other in self.tokens.values():
                    if other.parent == token.value:
                        other.revoked = True

    def _user_by_name(self, org: SimOrg, username: str) -> str | None:
        return next((uid for uid, auth in org.users.items() if auth.username == username), None)

    # --- REST API ----------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> tuple[SimOrg, IssuedToken]:
        with self.lock:
            value = (authorization or "").removeprefix("Bearer ").removeprefix("OAuth ").strip()
            token = self.tokens.get(value)
            if (
                token is None
                or token.kind != "access"
                or token.revoked
                or (token.expires_at is not None and token.expires_at <= self.now())
            ):
                self.refused_sessions += 1
                raise RestError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            return self.orgs[token.org_id[:15]], token

    def charge_api(self, org: SimOrg, method: str, path: str) -> None:
        """Count one API request against the rolling 24 h limit, or refuse it."""
        with self.lock:
            used, limit = self.api_usage(org)
            if used >= limit:
                raise RestError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            org.api_calls.append(self.now())
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
        used, limit = self.api_usage(org)
        return {
            "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
            "ConcurrentPerOrgLongTxn": {"Max": 25, "Remaining": 25},
            "DailyStandardVolumePlatformEvents": {
                "Max": 50_000,
                "Remaining": 50_000 - len(org.events),
            },
        }

    def _type(self, sobject: str) -> ObjectType:
        otype = self.types.get(sobject.lower())
        if otype is None:
            raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
        return otype

    @staticmethod
    def _iso(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    def _validated(
        self,
        org: SimOrg,
        otype: ObjectType,
        values: Mapping[str, Any],
        *,
        creating: bool,
        system: bool,
    ) -> dict[str, Any]:
        if not isinstance(values, Mapping):
            raise RestError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        record: dict[str, Any] = {}
        for name, value in values.items():
            if name == "attributes":
                continue
            spec = otype.fields.get(str(name).lower())
            if spec is None:
                raise RestError(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {otype.name}"
                )
            if not system and (
                spec.type in READ_ONLY_TYPES
                or spec.name in SYSTEM_FIELDS
                or spec.name in EVENT_FIELDS
            ):
                raise RestError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {spec.name}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile "
                    "or permission set.",
                    [spec.name],
                )
            record[spec.name] = self._coerce(spec, value)
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

    def _coerce(self, spec: FieldSpec, value: Any) -> Any:
        if value is None:
            return None
        kind = spec.type
        bad = RestError(
            400, "JSON_PARSER_ERROR", f"Cannot deserialize value of field {spec.name} as {kind}"
        )
        if kind in STRING_LIMITS:
            if not isinstance(value, str):
                raise bad
            if len(value) > STRING_LIMITS[kind]:
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
            return self._iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
        return value

    def _visible(self, org: SimOrg, otype: ObjectType) -> dict[str, dict[str, Any]]:
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

    def _shape(
        self, otype: ObjectType, record: Mapping[str, Any], fields: list[str] | None, version: str
    ) -> dict[str, Any]:
        names = fields or [spec.name for spec in otype.fields.values()]
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
        self, org: SimOrg, sobject: str, record_id: str, fields: str | None, version: str
    ) -> dict[str, Any]:
        with self.lock:
            otype = self._type(sobject)
            if otype.kind != "sobject" or not is_valid_id(record_id):
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            record = self._visible(org, otype).get(to18(record_id))
            if record is None:
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            names = None
            if fields:
                try:
                    names = [otype.field(name.strip()).name for name in fields.split(",")]
                except soql.SoqlError as error:
                    raise RestError(400, error.code, error.message) from None
            return self._shape(otype, record, names, version)

    def create(self, org: SimOrg, sobject: str, values: Any, user_id: str) -> dict[str, Any]:
        with self.lock:
            otype = self._type(sobject)
            if otype.readonly:
                raise RestError(
                    400,
                    "INVALID_TYPE_FOR_OPERATION",
                    f"entity type {otype.name} does not support insert",
                )
            if otype.kind == "platform_event":
                return self._publish(org, otype, values, user_id)
            record = self._validated(org, otype, values, creating=True, system=False)
            record_id = org.ids.next(otype.prefix)
            self._store_new(org, otype, record, record_id, user_id)
            return {"id": record_id, "success": True, "errors": []}

    def upsert(
        self, org: SimOrg, sobject: str, field: str, value: str, *, values: Any, user_id: str
    ) -> tuple[bool, dict[str, Any]]:
        """``PATCH sobjects/<Type>/<ExternalIdField>/<value>``: update the record with that
        external id, or create it; atomic under the simulator's lock, as in Salesforce."""
        with self.lock:
            otype = self._type(sobject)
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
            table = self._visible(org, otype)
            matches = [rid for rid, rec in table.items() if rec.get(spec.name) == value]
            if len(matches) > 1:
                raise RestError(
                    300, "MULTIPLE_RECORDS", f"more than one record has {spec.name} = {value}"
                )
            if matches:
                changes = self._validated(org, otype, values, creating=False, system=False)
                table[matches[0]].update(changes, LastModifiedDate=self._iso(self.now()))
                return False, {"id": matches[0], "success": True, "errors": [], "created": False}
            created = self.create(org, sobject, {**dict(values), spec.name: value}, user_id)
            return True, {**created, "created": True}

    def update(self, org: SimOrg, sobject: str, record_id: str, values: Any) -> None:
        with self.lock:
            otype = self._type(sobject)
            table = self._visible(org, otype)
            if (
                otype.readonly
                or otype.kind != "sobject"
                or not is_valid_id(record_id)
                or to18(record_id) not in table
            ):
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            changes = self._validated(org, otype, values, creating=False, system=False)
            table[to18(record_id)].update(changes, LastModifiedDate=self._iso(self.now()))

    def delete(self, org: SimOrg, sobject: str, record_id: str) -> None:
        with self.lock:
            otype = self._type(sobject)
            table = self._visible(org, otype)
            if otype.readonly or not is_valid_id(record_id) or to18(record_id) not in table:
                raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
            del table[to18(record_id)]

    def query(self, org: SimOrg, text: str, version: str) -> dict[str, Any]:
        with self.lock:

            def resolve_object(name: str) -> str:
                otype = self.types.get(name.lower())
                if otype is None or otype.kind != "sobject":
                    raise soql.SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
                return otype.name

            def resolve_field(sobject: str, name: str) -> str:
                return self.types[sobject.lower()].field(name).name

            try:
                parsed = soql.parse(text, resolve_object, resolve_field)
            except soql.SoqlError as error:
                raise RestError(400, error.code, error.message) from None
            if org.relay is not None and parsed.sobject == "EventRelayFeedback":
                self._refresh_relay_feedback(org)
            otype = self.types[parsed.sobject.lower()]
            rows = soql.execute(parsed, list(self._visible(org, otype).values()))
            if parsed.count_only:
                return {"totalSize": len(rows), "done": True, "records": []}
            return {
                "totalSize": len(rows),
                "done": True,
                "records": [self._shape(otype, row, parsed.fields, version) for row in rows],
            }

    # --- Platform events and Event Relay ------------------------------------------------------

    def _publish(self, org: SimOrg, otype: ObjectType, values: Any, user_id: str) -> dict[str, Any]:
        fields = self._validated(org, otype, values, creating=True, system=False)
        org.replay_counter += secrets.randbelow(3) + 1
        event = PublishedEvent(
            name=otype.name,
            payload={"CreatedDate": self._iso(self.now()), "CreatedById": user_id, **fields},
            event_uuid=str(uuid.uuid4()),
            replay_id=org.replay_counter,
            schema_id=hashlib.sha256(json.dumps(sorted(otype.fields)).encode()).hexdigest()[:22],
            published_at=self.now(),
        )
        cutoff = self.now() - EVENT_RETENTION
        org.events = [e for e in org.events if e.published_at > cutoff] + [event]
        self._relay_wakeup.notify_all()
        return {"id": org.ids.next("e00"), "success": True, "errors": []}

    def configure_relay(self, org: SimOrg, channel: RelayChannel) -> None:
        with self.lock:
            channel.position = org.replay_counter
            org.relay = channel
            self._refresh_relay_feedback(org)

    def set_relay_state(self, org: SimOrg, state: str, recovery: str = "LATEST") -> None:
        """Admin change of relay state; leaving ERROR/STOP resumes at LATEST or EARLIEST."""
        with self.lock:
            relay = org.relay
            if relay is None:
                raise KeyError(f"org {org.org_id} has no relay")
            if state == "RUN" and relay.status in {"ERROR", "STOP"}:
                relay.position = (
                    org.events[0].replay_id - 1
                    if recovery == "EARLIEST" and org.events
                    else org.replay_counter
                )
                relay.error_code = relay.error_message = None
            relay.status = state
            self._refresh_relay_feedback(org)
            self._relay_wakeup.notify_all()

    def _refresh_relay_feedback(self, org: SimOrg) -> None:
        relay = org.relay
        if relay is None:
            return
        table = org.records.setdefault("EventRelayFeedback", {})
        if not table:
            self.insert(org, "EventRelayFeedback", {"EventRelayNumber": "ERF-0001"})
        record = next(iter(table.values()))
        record.update(
            RemoteResource=f"aws.partner/salesforce.com/{org.org_id}/{relay.channel_id}",
            Status=relay.status,
            ErrorCode=relay.error_code,
            ErrorMessage=relay.error_message,
            ErrorTime=self._iso(relay.error_time) if relay.error_time else None,
            LastRelayedEventTime=self._iso(relay.last_relayed) if relay.last_relayed else None,
        )

    def pending_relay_work(self) -> list[tuple[SimOrg, RelayChannel, PublishedEvent]]:
        with self.lock:
            work = []
            for org in self.orgs.values():
                relay = org.relay
                if relay is None or relay.status != "RUN":
                    continue
                work += [(org, relay, e) for e in org.events if e.replay_id > relay.position]
            return work

    def relay_once(self) -> int:
        """Forward every pending event of every running relay; returns how many were sent."""
        sent = 0
        for org, relay, event in self.pending_relay_work():
            if self.relay_sender is None or relay.status != "RUN":
                break
            try:
                self.relay_sender(org, relay, event)
            except Exception as error:
                with self.lock:
                    relay.status = "ERROR"
                    relay.error_code = "RELAY_DELIVERY_FAILED"
                    relay.error_message = type(error).__name__
                    relay.error_time = self.now()
                    self._refresh_relay_feedback(org)
                continue
            with self.lock:
                relay.position = max(relay.position, event.replay_id)
                relay.last_relayed = self.now()
                self._refresh_relay_feedback(org)
            sent += 1
        return sent

    def wait_for_relay_work(self, timeout: float) -> None:
        with self._relay_wakeup:
            if not self.pending_relay_work():
                self._relay_wakeup.wait(timeout)
