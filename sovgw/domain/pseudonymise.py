"""Reversible pseudonymisation and output scanning.

Within one request the same value always gets the same placeholder (``[EMAIL_1]``), so the
model can reason about "the same person" without seeing who. The mapping leaves this module
only sealed by a ``MappingVault`` (KMS in production) and is never logged.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from sovgw.domain import dlp
from sovgw.domain.levels import DataLevel

PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|IBAN|CREDIT_CARD|NATIONAL_ID|SECRET|IP_ADDRESS)_\d+\]")


@dataclass
class PlaceholderTable:
    """Placeholders of one request: value → placeholder, and back."""

    by_value: dict[tuple[dlp.EntityType, str], str] = field(default_factory=dict)
    counters: Counter[dlp.EntityType] = field(default_factory=Counter)
    # Placeholder-shaped text the caller wrote itself: never issued, so restoring an answer
    # cannot turn the caller's own "[EMAIL_1]" into someone's address.
    taken: set[str] = field(default_factory=set)

    def reserve_literals(self, text: str) -> None:
        """Note every placeholder-shaped token already in ``text`` (the whole request)."""
        self.taken.update(PLACEHOLDER.findall(text))

    def placeholder(self, entity: dlp.EntityType, value: str) -> str:
        key = (entity, value)
        if key not in self.by_value:
            while True:
                self.counters[entity] += 1
                candidate = f"[{entity.value}_{self.counters[entity]}]"
                if candidate not in self.taken:
                    break
            self.by_value[key] = candidate
        return self.by_value[key]

    @property
    def mapping(self) -> dict[str, str]:
        """placeholder → original value (what a vault seals)."""
        return {placeholder: value for (_, value), placeholder in self.by_value.items()}


def pseudonymise(text: str, findings: list[dlp.Finding], table: PlaceholderTable) -> str:
    """Replace every finding except privilege markers with its stable placeholder."""
    parts: list[str] = []
    cursor = 0
    for finding in findings:
        if finding.entity is dlp.EntityType.PRIVILEGED:
            continue
        parts.append(text[cursor : finding.start])
        parts.append(table.placeholder(finding.entity, text[finding.start : finding.end]))
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)


JUNCTION_REACH = 64  # around each junction: longer than any value the detectors find


def pseudonymise_across(
    texts: list[str], table: PlaceholderTable
) -> tuple[list[str], list[dlp.Finding]]:
    """Values split across strings a reader joins (messages, content parts, a chunk's fields):
    each string is already pseudonymised on its own, so only windows around the junctions of
    the joined text are scanned. A value that spans a junction gets its placeholder where it
    starts; the parts that complete it are removed from the following strings. Returns the
    strings and the findings that span a junction (offsets in the joined text)."""
    starts = []
    length = 0
    for text in texts:
        starts.append(length)
        length += len(text)
    joined = "".join(texts)
    junctions = [start for start in starts[1:] if 0 < start < length]
    windows: list[tuple[int, int]] = []
    for junction in junctions:
        begin, end = max(0, junction - JUNCTION_REACH), min(length, junction + JUNCTION_REACH)
        if windows and begin <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((begin, end))
    spanning: list[dlp.Finding] = []
    for begin, end in windows:
        for finding in dlp.detect(joined[begin:end]):
            start, stop = begin + finding.start, begin + finding.end
            if any(start < junction < stop for junction in junctions):
                spanning.append(dlp.Finding(finding.entity, start, stop, finding.subtype))
    edits: dict[int, list[tuple[int, int, str]]] = {}
    for finding in spanning:
        if finding.entity is dlp.EntityType.PRIVILEGED:
            continue  # a marker stays readable; it only sets the level
        placeholder = table.placeholder(finding.entity, joined[finding.start : finding.end])
        for index, start in enumerate(starts):
            stop = start + len(texts[index])
            if stop <= finding.start or start >= finding.end:
                continue
            cut_from, cut_to = max(finding.start, start) - start, min(finding.end, stop) - start
            replacement = placeholder if start <= finding.start else ""
            edits.setdefault(index, []).append((cut_from, cut_to, replacement))
    result = list(texts)
    for index, cuts in edits.items():
        text = result[index]
        for cut_from, cut_to, replacement in sorted(cuts, reverse=True):
            text = text[:cut_from] + replacement + text[cut_to:]
        result[index] = text
    return result, spanning


def residual_level(findings: list[dlp.Finding]) -> DataLevel:
    """The level of a text once ``pseudonymise`` replaced its values: only privilege markers
    stay in the text, so only they keep it above PUBLIC."""
    if any(f.entity is dlp.EntityType.PRIVILEGED for f in findings):
        return DataLevel.PRIVILEGED
    return DataLevel.PUBLIC


def scan_output(text: str, mapping: dict[str, str]) -> tuple[str, Counter[str]]:
    """Remove sensitive values the model produced that were not in the request.

    A value that was in the request comes back as its placeholder (restored later); anything
    else the detectors find (an address exfiltrated by a prompt injection, a guessed IBAN) is
    replaced by ``[REMOVED_<TYPE>]`` and counted.
    """
    allowed = set(mapping.values())
    removed: Counter[str] = Counter()
    parts: list[str] = []
    cursor = 0
    for finding in dlp.detect(text):
        value = text[finding.start : finding.end]
        if finding.entity is dlp.EntityType.PRIVILEGED or value in allowed:
            continue
        removed[finding.entity.value] += 1
        parts.append(text[cursor : finding.start])
        parts.append(f"[REMOVED_{finding.entity.value}]")
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts), removed


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put original values back for placeholders this request issued; others stay as they are."""
    return PLACEHOLDER.sub(lambda m: mapping.get(m.group(), m.group()), text)


_WHITESPACE = re.compile(r"\s")


class StreamingOutputFilter:
    """``scan_output`` and ``restore`` for a reply that arrives in pieces (SSE deltas).

    A placeholder or a value may be split across pieces, so the tail that could still grow
    into one is held back: text is released only up to a whitespace boundary that no finding
    spans and that lies at least ``hold`` characters before the end of what has arrived.
    """

    def __init__(self, mapping: dict[str, str], hold: int = 128) -> None:
        self._mapping = mapping
        self._hold = hold
        self._pending = ""
        self.removed: Counter[str] = Counter()

    def feed(self, piece: str) -> str:
        """Add a piece; return the text that is now safe to send (possibly empty)."""
        self._pending += piece
        cut = self._safe_cut()
        if cut <= 0:
            return ""
        released, self._pending = self._pending[:cut], self._pending[cut:]
        return self._clean(released)

    def whole(self, text: str) -> str:
        """A complete text (not streamed): scanned and restored at once."""
        return self._clean(text)

    def finish(self) -> str:
        """The rest, at the end of the stream."""
        released, self._pending = self._pending, ""
        return self._clean(released) if released else ""

    def _clean(self, text: str) -> str:
        cleaned, removed = scan_output(text, self._mapping)
        self.removed.update(removed)
        return restore(cleaned, self._mapping)

    def _safe_cut(self) -> int:
        limit = len(self._pending) - self._hold
        if limit <= 0:
            return 0
        spans = [(f.start, f.end) for f in dlp.detect(self._pending)]
        while limit > 0:
            boundary = max(
                (m.end() for m in _WHITESPACE.finditer(self._pending, 0, limit)), default=0
            )
            spanning = [start for start, end in spans if start < boundary < end]
            if not spanning:
                return boundary
            limit = min(spanning)
        return 0
