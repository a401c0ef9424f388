"""Scan one exported part file for training: each row curated (one-way pseudonymised),
quarantined (with its reasons: fields and types, never values) or rejected (malformed).

The outcome is deterministic: the same part, definition, field levels and key give the same
bytes, so re-running a build's scan gives an identical manifest. Memory is bounded by the
part (one Bulk API results page), whatever the size of the export.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sovgw.domain import dlp
from sovgw.domain.canaries import NO_CANARIES, CanaryWatch, Sighting
from sovgw.domain.datasets import DatasetDefinition
from sovgw.domain.export import BuildState
from sovgw.domain.levels import DataLevel

# Salesforce's largest text field (Long Text Area, Rich Text Area) holds 131,072 characters:
# a longer CSV cell did not come from a field.
MAX_FIELD_CHARS = 131_072
_RECORD_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
# Letters only: no detector reads a token as a number.
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz"  # noqa: S105 - an alphabet, not a password
_TOKEN_LENGTH = 12  # 26**12 ≈ 2**56 values per kind
# What a record must never carry into training, even pseudonymised: the finding quarantines it.
_QUARANTINED_ENTITIES = {
    dlp.EntityType.PRIVILEGED: "privileged_content",
    dlp.EntityType.SECRET: "secret_content",
}


class Reason(StrEnum):
    """Why a row did not become a curated record. The first six quarantine, the rest reject."""

    LEAK_CANARY = "leak_canary"  # a planted value: the record must never be trained on
    UNCLASSIFIED_FIELD = "unclassified_field"
    PRIVILEGED_FIELD = "privileged_field"
    FIELD_ABOVE_ALLOWED = "field_above_allowed"
    PRIVILEGED_CONTENT = "privileged_content"
    SECRET_CONTENT = "secret_content"  # noqa: S105 - a reason's name
    MALFORMED_ROW = "malformed_row"
    INVALID_UTF8 = "invalid_utf8"
    FIELD_TOO_LARGE = "field_too_large"
    INVALID_RECORD_ID = "invalid_record_id"
    UNEXPECTED_COLUMNS = "unexpected_columns"


@dataclass(frozen=True)
class Issue:
    """One reason about one field (``None``: the row as a whole), with the entity types found."""

    reason: Reason
    field: str | None = None
    types: tuple[str, ...] = ()
    detail: str | None = None  # about the shape (cell counts, parser's words), never content

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason.value}
        if self.field is not None:
            out["field"] = self.field
        if self.types:
            out["types"] = list(self.types)
        if self.detail:
            out["detail"] = self.detail
        return out


class OneWayPseudonymiser:
    """Keyed one-way tokens (HMAC-SHA256): the same value gets the same token in every record
    of the dataset, so a model can learn "the same person" without learning who; without the
    key a token cannot be reversed or even confirmed by guessing."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the pseudonymisation key must be at least 32 bytes")
        self._key = key

    def token(self, kind: str, value: str) -> str:
        digest = hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()
        number = int.from_bytes(digest[:8])
        letters = []
        for _ in range(_TOKEN_LENGTH):
            number, index = divmod(number, len(_TOKEN_ALPHABET))
            letters.append(_TOKEN_ALPHABET[index])
        return f"[{kind}_{''.join(letters)}]"

    def text(self, text: str, findings: list[dlp.Finding]) -> str:
        """``text`` with every finding replaced by its token."""
        parts: list[str] = []
        cursor = 0
        for finding in findings:
            parts.append(text[cursor : finding.start])
            parts.append(self.token(finding.entity.value, text[finding.start : finding.end]))
            cursor = finding.end
        parts.append(text[cursor:])
        return "".join(parts)


class TrainingGate:
    """Decides one record: its curated form, or the issues that quarantine it."""

    def __init__(
        self,
        definition: DatasetDefinition,
        field_levels: Mapping[str, DataLevel],
        pseudonymiser: OneWayPseudonymiser,
        canaries: CanaryWatch = NO_CANARIES,
    ) -> None:
        self.definition = definition
        self.field_levels = field_levels
        self.pseudonymiser = pseudonymiser
        self.canaries = canaries
        self.sightings: list[Sighting] = []  # planted values found (never written anywhere)
        self._tokenised = set(definition.tokenise)

    def decide(
        self, record_id: str, values: Mapping[str, str], found: Counter[str] | None = None
    ) -> tuple[dict[str, str], list[Issue]]:
        """The curated record (only meaningful when there are no issues) and the issues;
        ``found`` counts the categories pseudonymised."""
        allowed = self.definition.allowed_level
        curated: dict[str, str] = {"Id": self.pseudonymiser.token("RECORD", record_id)}
        issues: list[Issue] = []
        sighting = (
            self.canaries.seen("\n".join(values.values()), "training_dataset")
            if self.canaries
            else None
        )
        if sighting is not None:
            self.sightings.append(sighting)
            issues.append(Issue(Reason.LEAK_CANARY, types=(sighting.canary.kind,)))
        found = Counter() if found is None else found
        for name in self.definition.fields:
            value = values.get(name, "")
            if value == "":
                curated[name] = ""
                continue
            level = self.field_levels.get(name)
            if level is None:
                issues.append(Issue(Reason.UNCLASSIFIED_FIELD, name))
                continue
            if level is DataLevel.PRIVILEGED:
                issues.append(Issue(Reason.PRIVILEGED_FIELD, name))
                continue
            if level.rank > allowed.rank:
                if name in self._tokenised:
                    curated[name] = self.pseudonymiser.token("VALUE", value)
                    found[level.value] += 1
                else:
                    issues.append(Issue(Reason.FIELD_ABOVE_ALLOWED, name, (level.value,)))
                continue
            findings = dlp.detect(value)
            blocking = sorted({f.entity for f in findings if f.entity in _QUARANTINED_ENTITIES})
            for entity in blocking:
                issues.append(Issue(Reason(_QUARANTINED_ENTITIES[entity]), name, (entity.value,)))
            if not blocking:
                curated[name] = self.pseudonymiser.text(value, findings)
                found.update(f.entity.value for f in findings)
        return curated, issues


@dataclass
class PartScan:
    """The three outputs of one part (JSON Lines bytes) and its counts."""

    curated: list[bytes] = field(default_factory=list)
    quarantined: list[bytes] = field(default_factory=list)
    rejected: list[bytes] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    reason_fields: Counter[str] = field(default_factory=Counter)
    # Personal data categories the curated records held, now as tokens (Art. 30 categories).
    pseudonymised: Counter[str] = field(default_factory=Counter)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "rows": len(self.curated) + len(self.quarantined) + len(self.rejected),
            "curated": len(self.curated),
            "quarantined": len(self.quarantined),
            "rejected": len(self.rejected),
        }

    def note(self, issues: list[Issue]) -> None:
        """Count each reason once per row, and each (reason, field) once per row."""
        self.reasons.update({issue.reason.value for issue in issues})
        self.reason_fields.update(
            {f"{issue.reason.value}:{issue.field}" for issue in issues if issue.field}
        )


def _line(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode() + b"\n"


def _rows(raw: bytes) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(row number, cells, parse error) for every CSV row after the header (row 1). Bytes
    that are not UTF-8 survive decoding as surrogates, so the row that holds them is found."""
    text = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text, strict=True)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield reader.line_num, None, str(error).split(":")[0]
            continue
        yield reader.line_num, cells, None


def _has_surrogate(value: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in value)


def scan_part(raw: bytes, gate: TrainingGate, part: str) -> PartScan:
    """Scan the CSV bytes of ``part`` (Bulk API 2.0 results: header ``Id,<fields>``)."""
    csv.field_size_limit(64 * 1024 * 1024)  # a page's cell, refused below if over a field's size
    expected = ["Id", *gate.definition.fields]
    scan = PartScan()
    rows = _rows(raw)
    header_issue: Issue | None = None
    first = next(rows, None)
    if first is None:
        return scan
    _, header, _ = first
    if header != expected:
        header_issue = Issue(Reason.UNEXPECTED_COLUMNS, detail=f"expected {','.join(expected)}")
    for line, cells, parse_error in rows:
        issue = header_issue or _row_issue(cells, parse_error, expected)
        if issue is not None:
            scan.note([issue])
            scan.rejected.append(_line({"part": part, "line": line, **issue.as_json()}))
            continue
        assert cells is not None
        record_id, values = cells[0], dict(zip(gate.definition.fields, cells[1:], strict=True))
        found: Counter[str] = Counter()
        curated, issues = gate.decide(record_id, values, found)
        if issues:
            scan.note(issues)
            record = {"Id": record_id, **values}
            scan.quarantined.append(
                _line({"record": record, "issues": [i.as_json() for i in issues]})
            )
        else:
            scan.curated.append(_line(curated))
            scan.pseudonymised.update(found)
    return scan


def _row_issue(
    cells: list[str] | None, parse_error: str | None, columns: list[str]
) -> Issue | None:
    """What makes a row unreadable as a record, if anything (never quoting its content)."""
    if cells is None:
        return Issue(Reason.MALFORMED_ROW, detail=parse_error or "csv error")
    if len(cells) != len(columns):
        return Issue(Reason.MALFORMED_ROW, detail=f"{len(cells)} cells, {len(columns)} expected")
    for name, value in zip(columns, cells, strict=True):
        if _has_surrogate(value):
            return Issue(Reason.INVALID_UTF8, name)
        if len(value) > MAX_FIELD_CHARS:
            return Issue(Reason.FIELD_TOO_LARGE, name, detail=f"over {MAX_FIELD_CHARS} characters")
    if not _RECORD_ID.match(cells[0]):
        return Issue(Reason.INVALID_RECORD_ID)
    return None


class OutputFile(BaseModel):
    """One output of a part: its key, SHA-256 and record count (lineage)."""

    model_config = ConfigDict(frozen=True)

    key: str
    sha256: str
    records: int


class PartResult(BaseModel):
    """What the scan made of one part; ``error``: it could not be scanned (and why)."""

    model_config = ConfigDict(frozen=True)

    part: int
    raw_key: str
    raw_sha256: str
    exported: int
    rows: int = 0
    curated: int = 0
    quarantined: int = 0
    rejected: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)
    reason_fields: dict[str, int] = Field(default_factory=dict)
    pseudonymised: dict[str, int] = Field(default_factory=dict)
    outputs: dict[str, OutputFile] = Field(default_factory=dict)
    error: str | None = None


def manifest(state: BuildState, results: Mapping[int, PartResult]) -> dict[str, Any]:
    """The build's manifest: lineage (definition hash, field levels, Bulk jobs, a SHA-256 per
    part and output) and the reconciliation exported = curated + quarantined + rejected, per
    part and in total, with counts per reason. No clock in it: the same build scanned again
    gives the same bytes."""
    problems: list[str] = []
    if state.status != "exported":
        problems.append(f"export is {state.status}, not exported")
    totals = Counter[str]()
    reasons = Counter[str]()
    reason_fields = Counter[str]()
    pseudonymised = Counter[str]()
    for part in state.parts:
        result = results.get(part.number)
        totals["exported"] += part.records
        if result is None:
            problems.append(f"part {part.number}: not scanned")
            totals["unaccounted"] += part.records
            continue
        if result.error:
            problems.append(f"part {part.number}: {result.error}")
            totals["unaccounted"] += part.records
            continue
        for name in ("curated", "quarantined", "rejected"):
            totals[name] += getattr(result, name)
        reasons.update(result.reasons)
        reason_fields.update(result.reason_fields)
        pseudonymised.update(result.pseudonymised)
        if result.rows != part.records:
            problems.append(
                f"part {part.number}: Salesforce sent {part.records} records, "
                f"the scan read {result.rows} rows"
            )
            totals["unaccounted"] += part.records - result.rows
    definition = state.definition
    return {
        "manifest_version": "1",
        "dataset": definition.id,
        "dataset_version": definition.version,
        "dataset_sha256": definition.sha256,
        "purpose": definition.purpose,
        "allowed_level": definition.allowed_level.value,
        "jurisdiction": state.jurisdiction,
        "org_id": state.org_id,
        "build_id": state.build_id,
        "created_at": state.created_at,
        "soql": definition.soql,
        "field_levels": {f: state.field_levels.get(f) for f in definition.fields},
        "bulk_jobs": state.jobs,
        "attempt": state.attempt,
        "parts": [
            results[p.number].model_dump(mode="json")
            if p.number in results
            else {"part": p.number, "raw_key": p.key, "raw_sha256": p.sha256, "exported": p.records}
            for p in state.parts
        ],
        "totals": {
            k: totals.get(k, 0)
            for k in ("exported", "curated", "quarantined", "rejected", "unaccounted")
        },
        "reasons": dict(sorted(reasons.items())),
        "reason_fields": dict(sorted(reason_fields.items())),
        "pseudonymised": dict(sorted(pseudonymised.items())),
        "reconciled": not problems,
        "problems": problems,
    }
