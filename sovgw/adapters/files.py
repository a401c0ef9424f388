"""File-backed adapters for running the proxy without AWS (a laptop, a test)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from sovgw.adapters.aws.audit import audit_record_key
from sovgw.domain.audit import AuditRecord
from sovgw.ports import AuditSink


class FileAuditSink:
    """``AuditSink`` writing one JSON file per record, at most once (``O_EXCL``), laid out like
    the S3 audit bucket. A ``LocalAuditSink``: the proxy's event loop writes in place."""

    writes_locally: Literal[True] = True

    def __init__(self, directory: Path) -> None:
        self._directory = str(directory)
        self._made: set[str] = set()  # folders made by this sink: one mkdir each, not per write

    def write(self, record: AuditRecord) -> str:
        # Paths as strings: pathlib's parsing was about 4 % of a proxied request (py-spy).
        path = os.path.join(
            self._directory, audit_record_key(record.jurisdiction, record.org_id, record.record_id)
        )
        folder = os.path.dirname(path)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path
        except FileNotFoundError:  # the folder was removed since: make it again
            self._made.discard(folder)
            return self.write(record)
        # Plain os calls: a file object adds an fstat, an ioctl and two seeks (strace), each a GIL
        # release that a busy proxy's other threads contend for.
        try:
            data = memoryview(record.model_dump_json().encode())
            while data:
                data = data[os.write(descriptor, data) :]
        finally:
            os.close(descriptor)
        return path


class AuditByJurisdiction:
    """``AuditSink`` for a process serving several jurisdictions: each record goes to its own
    jurisdiction's sink, and a record of any other jurisdiction is refused."""

    def __init__(self, sinks: Mapping[str, AuditSink]) -> None:
        self._sinks = dict(sinks)

    def write(self, record: AuditRecord) -> str:
        sink = self._sinks.get(record.jurisdiction)
        if sink is None:
            raise ValueError(f"no audit store for jurisdiction {record.jurisdiction}")
        return sink.write(record)
