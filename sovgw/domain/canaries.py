"""Leak canaries: per org, synthetic values planted in a Salesforce record that no legitimate
purpose reads. Seen anywhere on the way out (a prompt bound for a vendor, a model's answer,
a training dataset), they prove records are leaving that should not: the request is blocked
and an incident opened at once.

The values look like what they stand for (an e-mail address, an IBAN with a valid check,
a mobile number, a case reference), so a filter that drops test data does not drop them,
and each is unique to one org and planting. The e-mail domain is reserved (RFC 2606): no
real person can own one.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

CanaryKind = Literal["email", "iban", "phone", "reference"]
_SURNAMES = ("brandt", "keller", "lindqvist", "moreau", "novak", "richter", "sauer", "vidal")
_SEPARATORS = re.compile(r"[\s\-./()]")


class Canary(BaseModel):
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    kind: CanaryKind
    value: str


class CanarySet(BaseModel):
    """One org's canaries and the record that holds them (kept sealed, never logged, not
    even in the message that refuses a malformed set)."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    org_id: str
    planted_at: datetime
    record_id: str | None = None
    canaries: tuple[Canary, ...]


def _iban_de(account: str, bank: str) -> str:
    """A German IBAN with a valid ISO 13616 check (mod 97), for a random bank and account."""
    bban = bank + account
    digits = "".join(str(int(c, 36)) for c in bban + "DE00")
    check = 98 - int(digits) % 97
    return f"DE{check:02d}{bban}"


def new_canaries(org_id: str, planted_at: datetime) -> CanarySet:
    """Fresh values for one org: random, so no two plantings share one."""
    token = secrets.token_hex(4)
    surname = _SURNAMES[secrets.randbelow(len(_SURNAMES))]
    digits = "".join(str(secrets.randbelow(10)) for _ in range(18))
    return CanarySet(
        org_id=org_id,
        planted_at=planted_at,
        canaries=(
            Canary(kind="email", value=f"{surname}.{token}@mail.example.net"),
            Canary(kind="iban", value=_iban_de(digits[:10], "5" + digits[10:17])),
            Canary(kind="phone", value=f"+49 1523 {digits[10:17]}"),
            Canary(kind="reference", value=f"VGL-{token.upper()}"),
        ),
    )


ANSWER_WITHHELD = "answer withheld: it held a leak canary"


@dataclass(frozen=True)
class Sighting:
    org_id: str
    canary: Canary
    path: str  # where it was seen: external_prompt, model_output, training_dataset, ...

    @property
    def where(self) -> str:
        return self.path.replace("_", " ")

    @property
    def reason(self) -> str:
        """What the audit record says: kind and org, never the value."""
        return f"leak canary ({self.canary.kind}) of org {self.org_id} in the {self.where}"


class CanaryWatch:
    """Finds any planted value in text, however it is spaced or cased (an IBAN or a number
    written with or without separators). The values are never part of what it reports."""

    def __init__(self, sets: tuple[CanarySet, ...] = ()) -> None:
        self._by_value: dict[str, tuple[str, Canary]] = {}
        for planted in sets:
            for canary in planted.canaries:
                self._by_value[self._key(canary)] = (planted.org_id, canary)
        keys = sorted(self._by_value, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, keys))) if keys else None

    @staticmethod
    def _key(canary: Canary) -> str:
        if canary.kind in {"iban", "phone"}:
            return _SEPARATORS.sub("", canary.value).lower()
        return canary.value.lower()

    def __bool__(self) -> bool:
        return self._pattern is not None

    def seen(self, text: str, path: str) -> Sighting | None:
        if self._pattern is None or not text:
            return None
        lowered = text.lower()
        found = self._pattern.search(lowered) or self._pattern.search(_SEPARATORS.sub("", lowered))
        if found is None:
            return None
        org_id, canary = self._by_value[found.group()]
        return Sighting(org_id, canary, path)


NO_CANARIES = CanaryWatch()
