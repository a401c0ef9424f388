"""Data loss prevention: find personal data, secrets and privilege markers in CRM text.

``detect`` scans a normalised view (NFKC, invisible characters removed, digits folded) and
reports findings at offsets of the original text. Validators decide; regexes only propose.
"""

from sovgw.domain.dlp.engine import (
    DETECTORS,
    ENTITY_LEVELS,
    EntityType,
    Finding,
    detect,
    iban_is_valid,
    prepare,
    redact,
)

__all__ = [
    "DETECTORS",
    "ENTITY_LEVELS",
    "EntityType",
    "Finding",
    "detect",
    "iban_is_valid",
    "prepare",
    "redact",
]
