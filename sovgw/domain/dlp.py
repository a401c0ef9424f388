"""Content detection and one-way redaction (the foundation's DLP; issue #3 deepens it).

Findings carry offsets into the original text and never their values outside this module's
callers; the audit trail stores only entity types and counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from sovgw.domain.levels import DataLevel


class EntityType(StrEnum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    IBAN = "IBAN"
    PRIVILEGED = "PRIVILEGED"


ENTITY_LEVELS: dict[EntityType, DataLevel] = {
    EntityType.EMAIL: DataLevel.PERSONAL,
    EntityType.PHONE: DataLevel.PERSONAL,
    EntityType.IBAN: DataLevel.PERSONAL,
    EntityType.PRIVILEGED: DataLevel.PRIVILEGED,
}


@dataclass(frozen=True)
class Finding:
    entity: EntityType
    start: int
    end: int


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])\+?[0-9](?:[0-9 ()/.-]{6,18})[0-9](?!\w)")
_IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b")
_PRIVILEGE_MARKERS = re.compile(
    r"attorney[- ]client privilege|privileged (?:and|&) confidential|attorney work[- ]product"
    r"|legally privileged|legal privilege|anwaltlich(?:e|es)? (?:vertraulich|privilegiert)"
    r"|anwaltsgeheimnis|secret professionnel|confidentiel(?:le)? avocat",
    re.IGNORECASE,
)


def _ascii_digits(text: str) -> str:
    """Map every Unicode decimal digit to ASCII so checksums see the real number."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def iban_is_valid(candidate: str) -> bool:
    """ISO 13616 mod-97 check; a failed checksum is not a finding."""
    compact = _ascii_digits(candidate).replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha():
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def detect(text: str) -> list[Finding]:
    """All findings in ``text``, without overlaps (earlier, longer match wins)."""
    raw: list[Finding] = []
    raw += [Finding(EntityType.EMAIL, m.start(), m.end()) for m in _EMAIL.finditer(text)]
    raw += [
        Finding(EntityType.IBAN, m.start(), m.end())
        for m in _IBAN.finditer(text)
        if iban_is_valid(m.group())
    ]
    raw += [
        Finding(EntityType.PHONE, m.start(), m.end())
        for m in _PHONE.finditer(text)
        if sum(ch.isdecimal() for ch in m.group()) >= 9
    ]
    raw += [
        Finding(EntityType.PRIVILEGED, m.start(), m.end())
        for m in _PRIVILEGE_MARKERS.finditer(text)
    ]
    raw.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[Finding] = []
    for finding in raw:
        if kept and finding.start < kept[-1].end:
            continue
        kept.append(finding)
    return kept


def redact(text: str, findings: list[Finding], counter: Counter[EntityType]) -> str:
    """Replace personal values with numbered placeholders; privilege markers stay readable.

    ``counter`` is shared across the fields of one record so placeholders stay unique.
    """
    parts: list[str] = []
    cursor = 0
    for finding in findings:
        if finding.entity is EntityType.PRIVILEGED:
            continue
        counter[finding.entity] += 1
        parts.append(text[cursor : finding.start])
        parts.append(f"[{finding.entity.value}_{counter[finding.entity]}]")
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)
