"""``sovgw scan``: classify JSON Lines (free text or Salesforce records) as a stream.

Each input line gives one output line, in order. Memory stays bounded whatever the input:
lines are read with a size limit, and a bad line becomes an error line for that record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from sovgw.domain import dlp
from sovgw.domain.levels import DataLevel, highest

MAX_LINE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
# One encoder for every line: json.dumps with an argument builds a new one each call.
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
# Free text with nothing sensitive in it is still not known to be public.
TEXT_FLOOR = DataLevel.INTERNAL


class RecordError(ValueError):
    """This record cannot be scanned; the message says why (never quoting its content)."""


@dataclass
class ScanStats:
    records: int = 0
    errors: int = 0
    bytes_read: int = 0


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
    return deepest


def _fields(record: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for name, value in record.items():
        if name in {"attributes", "Id"} or value is None:
            continue
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _fields(value, f"{path}.")
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            yield path, str(value)


def _finding(finding: dlp.Finding, field: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": finding.entity.value,
        "subtype": finding.subtype,
        "start": finding.start,
        "end": finding.end,
    }
    if field is not None:
        out["field"] = field
    return out


def scan_record(
    record: Any, fallback_id: str, metadata: Mapping[str, Mapping[str, DataLevel]]
) -> dict[str, Any]:
    """Classify one parsed record: ``{"id", "text"}`` or a Salesforce record."""
    if not isinstance(record, dict):
        raise RecordError("expected a JSON object")
    record_id = str(record.get("id") or record.get("Id") or fallback_id)[:256]
    if "text" in record:
        text = record["text"]
        if not isinstance(text, str):
            raise RecordError("'text' must be a string")
        findings = dlp.detect(text)
        level = highest((dlp.ENTITY_LEVELS[f.entity] for f in findings), floor=TEXT_FLOOR)
        return {
            "id": record_id,
            "classification": level.value,
            "findings": [_finding(f, None) for f in findings],
        }
    attributes = record.get("attributes")
    if isinstance(attributes, dict) and isinstance(attributes.get("type"), str):
        known = metadata.get(attributes["type"], {})
        out: list[dict[str, Any]] = []
        levels: list[DataLevel] = []
        for field, value in _fields(record):
            levels.append(known.get(field, DataLevel.PRIVILEGED))  # unclassified: fail closed
            for finding in dlp.detect(value):
                levels.append(dlp.ENTITY_LEVELS[finding.entity])
                out.append(_finding(finding, field))
        return {
            "id": record_id,
            "classification": highest(levels, floor=TEXT_FLOOR).value,
            "findings": out,
        }
    raise RecordError("record has neither 'text' nor Salesforce 'attributes.type'")


def scan_stream(
    source: IO[bytes],
    sink: IO[str],
    metadata: Mapping[str, Mapping[str, DataLevel]] | None = None,
    progress: Callable[[ScanStats], None] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ScanStats:
    stats = ScanStats()
    last_report = time.monotonic()
    line_number = 0
    while raw := source.readline(max_line_bytes + 1):
        line_number += 1
        stats.bytes_read += len(raw)
        fallback = f"line-{line_number}"
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            while (rest := source.readline(1 << 20)) and not rest.endswith(b"\n"):
                stats.bytes_read += len(rest)
            stats.bytes_read += len(rest)
            result: dict[str, Any] = {
                "id": fallback,
                "error": f"line longer than {max_line_bytes} bytes; not scanned",
            }
        elif not raw.strip():
            continue
        else:
            result = _scan_line(raw, fallback, metadata or {})
        stats.records += 1
        stats.errors += "error" in result
        sink.write(_ENCODE(result) + "\n")
        if progress and time.monotonic() - last_report > 0.5:
            progress(stats)
            last_report = time.monotonic()
    sink.flush()
    return stats


def _scan_line(
    raw: bytes, fallback: str, metadata: Mapping[str, Mapping[str, DataLevel]]
) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return {"id": fallback, "error": f"invalid UTF-8 at byte {error.start}"}
    try:
        parsed = json.loads(text)
    except RecursionError:
        return {"id": fallback, "error": f"JSON nested deeper than {MAX_DEPTH} levels"}
    except json.JSONDecodeError as error:
        return {"id": fallback, "error": f"not JSON: {error.msg} at column {error.colno}"}
    except ValueError:
        return {"id": fallback, "error": "not JSON: unparsable value"}
    # Each level opens a bracket: a line with few of them cannot be too deep.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _depth(parsed) > MAX_DEPTH:
        return {"id": fallback, "error": f"JSON nested deeper than {MAX_DEPTH} levels"}
    try:
        return scan_record(parsed, fallback, metadata)
    except RecordError as error:
        record_id = parsed.get("id") if isinstance(parsed, dict) else None
        return {"id": str(record_id or fallback)[:256], "error": str(error)}
