"""Ports: the small interfaces domain logic needs, implemented by ``sovgw.adapters``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from sovgw.config import ModelEndpoint
from sovgw.domain.audit import AuditRecord
from sovgw.domain.levels import DataLevel


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

    def upsert_result(self, event_uuid: str, fields: Mapping[str, Any]) -> str:
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


class AuditSink(Protocol):
    """Durably store audit records; writing the same record id twice stores it once."""

    def write(self, record: AuditRecord) -> str:
        """Store ``record`` and return where it lives (e.g. an S3 URI)."""
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
