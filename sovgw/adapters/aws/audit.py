"""``AuditSink`` onto the jurisdiction's Object Lock bucket, one object per record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from botocore.exceptions import ClientError

from sovgw.adapters.aws.errors import aws_errors, error_code
from sovgw.domain.audit import AuditRecord
from sovgw.domain.audit_chain import sha256_hex
from sovgw.ports import AuditAnchors


def audit_stream(jurisdiction: str, org_id: str | None) -> str:
    """The chain a record belongs to: one per org of the jurisdiction (``-``: no org)."""
    return f"{jurisdiction}/{org_id or '-'}"


def audit_record_key(jurisdiction: str, org_id: str | None, record_id: str) -> str:
    """Where an audit record lives in its jurisdiction's bucket (one stream per org)."""
    return f"records/{audit_stream(jurisdiction, org_id)}/{record_id}.json"


class S3AuditSink:
    """``AuditSink`` writing one JSON object per record into an Object Lock bucket.

    The key is derived from the record id and written with ``If-None-Match: *``, so a retry
    or replay never adds a second copy. With ``anchors``, the stored object's hash is then
    appended to the stream's anchor sequence, which the next digest seals: a record deleted
    before its seal is still a finding. A record is written only when both are done.
    """

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        invocation_links: Callable[[], Mapping[str, str]] = dict,
        anchors: AuditAnchors | None = None,
    ) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._invocation_links = invocation_links
        self._anchors = anchors

    @property
    def anchors(self) -> AuditAnchors | None:
        return self._anchors

    def key_for(self, record: AuditRecord) -> str:
        return audit_record_key(record.jurisdiction, record.org_id, record.record_id)

    def write(self, record: AuditRecord) -> str:
        """Store once; links the record to the invocation writing it (Lambda request id, trace)."""
        missing = {
            k: v for k, v in self._invocation_links().items() if not getattr(record.links, k)
        }
        if missing:
            record = record.model_copy(update={"links": record.links.model_copy(update=missing)})
        key = self.key_for(record)
        body = record.model_dump_json().encode()
        with _store_errors():
            try:
                self._s3.put_object(
                    Bucket=self._bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
            except ClientError as error:
                if error_code(error) not in {"PreconditionFailed", "ConditionalRequestConflict"}:
                    raise
                # A replay: its first write (other links) is what counts.
                body = bytes(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())
        if self._anchors is not None:
            stream = audit_stream(record.jurisdiction, record.org_id)
            self._anchors.append(stream, record.record_id, sha256_hex(body))
        return f"s3://{self._bucket}/{key}"


def _store_errors() -> AbstractContextManager[None]:
    """Every failure of the audit bucket may heal: the event is retried, then dead-lettered,
    never dropped (no AWS error code is final here)."""
    return aws_errors("audit store", refused=frozenset(), absent=frozenset())
