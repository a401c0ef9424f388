"""Ports: every small interface domain logic needs, implemented by ``sovgw.adapters``.

All of them live here, grouped by concern (Salesforce, models, audit and events, the shared
store, break-glass, rotation), so a newcomer finds the seams in one file and the adapters'
docstrings name the port they implement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # domain types the ports speak in; the domain imports these ports
    from sovgw.config import ModelEndpoint
    from sovgw.domain.anomaly import Observation, Suspension
    from sovgw.domain.audit import AuditRecord
    from sovgw.domain.audit_chain import Anchor
    from sovgw.domain.break_glass import Grant
    from sovgw.domain.budget import Admission, Lane
    from sovgw.domain.canaries import CanaryWatch
    from sovgw.domain.incidents import IncidentEvent
    from sovgw.domain.levels import DataLevel
    from sovgw.domain.query_log import SalesforceCall
    from sovgw.domain.relay_watch import BusEvent, RelayReceipt
    from sovgw.domain.rotation import SecretState
    from sovgw.domain.write_back import AIResult, GrantRecord


class CrmRecords(Protocol):
    """Read and write Salesforce records of one org (field names come from allow-lists)."""

    def get_record(self, sobject: str, record_id: str, fields: Sequence[str]) -> dict[str, Any]:
        """Return the named fields; raise RejectedInput if the record does not exist."""
        ...

    def field_levels(self, sobject: str) -> Mapping[str, DataLevel]:
        """Field classification metadata for ``sobject`` (missing fields are treated as most
        sensitive by the caller)."""
        ...

    def find_result(self, event_uuid: str) -> str | None:
        """Id of an ``AI_Result__c`` already written for this event, if any."""
        ...

    def upsert_result(self, event_uuid: str, result: AIResult) -> str:
        """Create or update the ``AI_Result__c`` of this event (external id: the event UUID),
        atomically, and return its id: a duplicate delivery never writes a second result."""
        ...


class ModelReply(BaseModel):
    """What a model endpoint returned, with the AWS request id CloudTrail-style logs use."""

    model_config = ConfigDict(frozen=True)

    text: str
    endpoint: str
    region: str
    aws_request_id: str | None = None


class ModelInvoker(Protocol):
    """Invoke a model endpoint with chat messages."""

    def invoke(self, endpoint: ModelEndpoint, messages: Sequence[Mapping[str, str]]) -> ModelReply:
        """Raise UpstreamUnavailable on transient failure."""
        ...


class UpstreamReply(BaseModel):
    """A chat-completions response body from an upstream, with its request id if AWS gave one."""

    model_config = ConfigDict(frozen=True)

    body: dict[str, Any]
    aws_request_id: str | None = None


class ChatUpstream(Protocol):
    """Send an OpenAI chat-completions body to one endpoint (SageMaker or OpenAI-compatible).

    Both raise UpstreamUnavailable for failures worth trying elsewhere (connect, timeout, 5xx,
    throttling) and RejectedInput when the upstream refused the request itself.
    """

    def complete(self, endpoint: ModelEndpoint, body: Mapping[str, Any]) -> UpstreamReply:
        """The whole response."""
        ...

    def open_stream(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Start a streamed completion: errors before the first byte raise here (so the caller
        can fail over); the chunks are then read lazily."""
        ...


class AwaitableUpstream(Protocol):
    """A ``ChatUpstream`` whose whole answers some endpoints can give on the caller's event
    loop: no thread is held while the upstream thinks."""

    def can_await(self, endpoint: ModelEndpoint) -> bool: ...

    async def complete_async(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any]
    ) -> UpstreamReply: ...


class QueryLog(Protocol):
    """Where each Salesforce call's query-log entry goes (metrics, the audit trail)."""

    def record(self, call: SalesforceCall) -> None:
        """Keep the entry; it holds no values."""
        ...


class AuditSink(Protocol):
    """Durably store audit records; writing the same record id twice stores it once."""

    def write(self, record: AuditRecord) -> str:
        """Store ``record`` and return where it lives (e.g. an S3 URI)."""
        ...


class LocalAuditSink(AuditSink, Protocol):
    """An ``AuditSink`` whose write is a few local system calls, no network: an event loop may
    make it in place, as it writes its own log lines, instead of handing it to a thread."""

    writes_locally: Literal[True]


class FreshCanaries(Protocol):
    """The canary watch, read when due (it may block), or without blocking while it is
    fresh (None when a read is due)."""

    def __call__(self) -> CanaryWatch: ...

    def fresh(self) -> CanaryWatch | None: ...


class IncidentEventExists(Exception):
    """An incident event with this sequence number is already stored (written once)."""


class IncidentStore(Protocol):
    """Incidents as append-only event histories, in the jurisdiction's Object Lock bucket."""

    def write(self, event: IncidentEvent) -> None:
        """Store ``event``; IncidentEventExists when its sequence number is taken."""
        ...

    def events(self, incident_id: str) -> list[IncidentEvent]: ...

    def incident_ids(self) -> list[str]: ...


class AuditAnchors(Protocol):
    """Each stream's append-only anchor sequence: a record's hash taken as it is written, kept
    outside the audit bucket until the next digest seals it (no unsealed window)."""

    def append(self, stream: str, record_id: str, sha256: str) -> int:
        """Append and return the anchor's position (a counter per stream, never reused)."""
        ...

    def after(self, stream: str, position: int) -> list[Anchor]:
        """Every anchor of ``stream`` past ``position``, in order."""
        ...

    def streams(self, jurisdiction: str) -> set[str]:
        """Every stream of ``jurisdiction`` that ever anchored a record."""
        ...

    def release(self, stream: str, through: int) -> None:
        """Forget the anchors up to ``through``: a signed digest holds them now."""
        ...


class EventPublisher(Protocol):
    """Publish a domain event to the jurisdiction's event bus."""

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> str:
        """Return the event id assigned by the bus."""
        ...


class MappingVault(Protocol):
    """Seal a pseudonymisation mapping for one request, and open it again where authorised."""

    def seal(self, mapping: Mapping[str, str], context: Mapping[str, str]) -> str:
        """An opaque, encrypted, expiring blob bound to ``context``."""
        ...

    def open(self, sealed: str, context: Mapping[str, str]) -> dict[str, str]:
        """The mapping; RejectedInput if altered, expired or bound to another context."""
        ...


class DeadLetters(Protocol):
    """Park an event that cannot be processed, with the reason, so nothing is lost."""

    def send(self, function: str, event: Mapping[str, Any], reason: str, attempts: int) -> None:
        """Store the original event and why it failed."""
        ...


class SessionCache(Protocol):
    """Salesforce sessions shared by every caller of one scope (an org's integration user, or
    one break-glass grant), in every process: a login is rare, never a stampede."""

    def session(
        self,
        scope: str,
        stale: str | None,
        mint: Callable[[], Mapping[str, str]],
        discard: Callable[[Mapping[str, str]], None],
    ) -> Mapping[str, str]:
        """The scope's session (``access_token``, ``instance_url``), unless its token is
        ``stale`` (Salesforce refused it): then a fresher one, minted by ``mint`` in exactly one
        caller while the others wait for it. A minted session that cannot be kept (sealing
        failed) is passed to ``discard`` (revoked), never left open unrecorded."""
        ...

    def minted(self, scope: str) -> list[Mapping[str, str]]:
        """Every session minted for the scope (to revoke them all when a grant ends)."""
        ...

    def end(self, scope: str) -> None:
        """No session is minted for the scope again; the current one is forgotten."""
        ...


# --- the shared budget store ---------------------------------------------------------


class BudgetStore(Protocol):
    """The shared per-org API budget (``sovgw.adapters.valkey_budget.ValkeyBudgetStore``)."""

    def knows(self, org_id: str) -> bool: ...
    def admit(
        self, org_id: str, lane: Lane, grant_id: str | None = None, principal: str = ""
    ) -> Admission:
        """One call for ``lane``; refused when ``principal`` is suspended (not EMERGENCY)."""
        ...

    def release(self, org_id: str, admission: Admission, *, succeeded: bool = True) -> None: ...
    def observe(self, org_id: str, used: int, limit: int) -> None: ...
    def trip_breaker(self, org_id: str) -> float: ...
    def refuse_credential(self, org_id: str, credential_id: str) -> None: ...
    def refused_credentials(self, org_id: str) -> set[str]: ...


class AnomalyStore(Protocol):
    """The live query-log feed, the detector's history and the suspensions it sets
    (``sovgw.adapters.valkey_anomaly.ValkeyAnomalyStore``)."""

    def observe(self, jurisdiction: str, seen: Observation) -> None: ...
    def open_hours(self, jurisdiction: str) -> list[datetime]:
        """The hours with observations not yet taken, earliest first."""
        ...

    def observations(self, jurisdiction: str, hour: datetime) -> list[Observation]: ...
    def forget_hour(self, jurisdiction: str, hour: datetime) -> None: ...
    def load_detector(self, jurisdiction: str) -> dict[str, Any] | None: ...
    def save_detector(self, jurisdiction: str, snapshot: Mapping[str, Any]) -> None: ...
    def watching(self, jurisdiction: str, ttl_s: int) -> AbstractContextManager[bool]:
        """True inside when this run alone closes the jurisdiction's hours."""
        ...

    def suspend(self, suspension: Suspension) -> bool:
        """Close the principal's non-emergency lanes (False: it already was; the first
        suspension stays until lifted)."""
        ...

    def suspensions(self, org_id: str) -> dict[str, Suspension]: ...
    def lift(self, org_id: str, principal: str) -> Suspension | None: ...


# --- break-glass ---------------------------------------------------------------------


class GrantStore(Protocol):
    """Grant records in the shared store; transitions are compare-and-set."""

    def create(self, grant: Grant) -> bool: ...
    def get(self, org_id: str, request_id: str) -> Grant | None: ...
    def transition(
        self, org_id: str, request_id: str, allowed: Sequence[str], to: str, **fields: Any
    ) -> bool: ...
    def update(self, org_id: str, request_id: str, **fields: Any) -> None: ...
    def hold(self, org_id: str, request_id: str, until_ms: int) -> None:
        """Unlock the org's EMERGENCY lane for this grant and hold its emergency credential
        (no rotation while a grant may use it)."""
        ...

    def release_hold(self, org_id: str, request_id: str) -> None: ...
    def mark_due(self, org_id: str, request_id: str, at_ms: int) -> None:
        """Index the grant for the sweeper from ``at_ms``."""
        ...

    def due(self, now_ms: int) -> list[tuple[str, str]]: ...
    def done(self, org_id: str, request_id: str) -> None: ...
    def list(self, org_id: str) -> list[Grant]: ...
    def lease(self, org_id: str, request_id: str, ttl_ms: int) -> AbstractContextManager[bool]:
        """True inside when this worker alone drives the grant (until it leaves or ``ttl_ms``)."""
        ...


class SalesforceAccess(Protocol):
    """The org's side of a grant (through the access layer's EMERGENCY lane)."""

    def user_exists(self, user_id: str) -> bool: ...
    def holds_permission_set(self, user_id: str, name: str, at_ms: int) -> bool:
        """Whether the user holds the permission set ``name`` at ``at_ms`` (not expired)."""
        ...

    def permission_set_id(self, name: str) -> str | None: ...
    def find_assignment(
        self, user_id: str, permission_set_id: str, expires_at_ms: int
    ) -> str | None: ...
    def assign(self, user_id: str, permission_set_id: str, expires_at_ms: int) -> str: ...
    def unassign(self, assignment_id: str) -> None: ...
    def end_sessions(self) -> int:
        """Revoke every Salesforce session minted under this grant, in any process, and let no
        new one be minted; returns how many were revoked."""
        ...

    def upsert_grant_record(self, request_id: str, record: GrantRecord) -> None: ...


class AwsAccess(Protocol):
    """The AWS side: STS sessions, event subscriptions, the one-time expiry schedule."""

    def open_role(self, role: str, grant_id: str, expires_at_ms: int) -> str:
        """Let sessions tagged with the grant (people assume the role with MFA) act until
        the expiry; return what was attached."""
        ...

    def close_role(self, role: str, grant_id: str, issued_before_ms: int) -> None:
        """Detach the grant's permissions and end every session issued before now."""
        ...

    def enable_subscription(self, rule: str) -> None: ...
    def disable_subscription(self, rule: str) -> None: ...
    def schedule_expiry(self, org_id: str, request_id: str, at_ms: int) -> None: ...
    def cancel_schedule(self, org_id: str, request_id: str) -> None: ...


# --- credential rotation -------------------------------------------------------------


class SecretVersions(Protocol):
    """The secret store (Secrets Manager)."""

    def describe(self, secret_id: str) -> SecretState: ...
    def value(self, secret_id: str, version_id: str) -> dict[str, Any] | None: ...
    def put_pending(self, secret_id: str, token: str, value: Mapping[str, Any]) -> None: ...
    def promote(self, secret_id: str, token: str, from_version: str) -> None: ...


class ConsumerSecrets(Protocol):
    """Salesforce's OAuth staged credentials for one connected app (by consumer key)."""

    def stage(self, client_id: str) -> str: ...
    def discard(self, client_id: str) -> None: ...
    def rotate_in(self, client_id: str) -> None: ...
    def login_works(self, value: Mapping[str, Any]) -> bool: ...


class CredentialRetirement(Protocol):
    """The shared store's view: retire a credential version; is a break-glass grant active."""

    def retire(self, credential_id: str) -> None: ...
    def break_glass_active(self) -> bool: ...


# --- Event Relay: what arrived, heartbeats, and Salesforce's event bus ------------------------


class RelayLedger(Protocol):
    """Per org: events and heartbeats received from the relay, and whether a gap is open."""

    def received(self, org_id: str, receipt: RelayReceipt) -> None: ...

    def heartbeat(self, org_id: str, sent_ms: int) -> None:
        """Keep the newest heartbeat's send time (heartbeats may arrive out of order)."""
        ...

    def last_heartbeat(self, org_id: str) -> int | None: ...

    def watching_since(self, org_id: str, now_ms: int) -> int:
        """When the watcher first looked at this org (set once): the baseline before any
        heartbeat has arrived."""
        ...

    def set_gap(self, org_id: str, open_since_ms: int | None) -> int | None:
        """Record the gap's state (None: closed); return the previous one, atomically."""
        ...

    def received_since(self, org_id: str, since_ms: int) -> set[str]:
        """Event uuids of everything received that was published at or after ``since_ms``."""
        ...

    def checkpoint(self, org_id: str, event_name: str, before_ms: int) -> str | None:
        """The replay id of the last ``event_name`` received that was published before
        ``before_ms`` (replay ids are compared only within one event's stream)."""
        ...


class HeartbeatSender(Protocol):
    def publish_heartbeat(self, org_id: str, beat_id: str, sent_ms: int) -> None: ...


class EventBus(Protocol):
    def read(self, positions: Mapping[str, int]) -> list[BusEvent]:
        """Every event after each position (event name → replay id; -2: all retained)."""
        ...


# --- Training datasets: Bulk API exports and the dataset bucket --------------------------------


class BulkJob(BaseModel):
    """A Bulk API 2.0 query job as its status says (``error``: Salesforce's errorMessage)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    state: str
    records: int | None = None
    error: str | None = None


class BulkPage(BaseModel):
    """One results page: its CSV bytes exactly as sent, and where the next page starts."""

    model_config = ConfigDict(frozen=True)

    content: bytes
    records: int
    next_locator: str | None


class BulkQueries(Protocol):
    """Bulk API 2.0 query jobs of one org (on the ROUTINE lane: an export never eats the
    emergency reserve). A job Salesforce no longer has raises ``BulkJobLost``."""

    def create(self, soql: str) -> BulkJob: ...
    def status(self, job_id: str) -> BulkJob: ...
    def page(self, job_id: str, locator: str | None, max_records: int) -> BulkPage: ...
    def abort(self, job_id: str) -> None: ...


class DatasetObjects(Protocol):
    """The jurisdiction's dataset bucket (in-region, KMS-encrypted): raw, curated, quarantine,
    rejected and the builds' checkpoints and manifests."""

    def put(
        self, key: str, body: bytes, content_type: str = "application/octet-stream"
    ) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""
        ...

    def delete(self, keys: Sequence[str]) -> None: ...
