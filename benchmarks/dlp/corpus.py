"""A labelled corpus: CRM-like text with valid identifiers (plain, formatted and evaded),
near misses that fail their checksums, and technical tokens that must not be flagged.

Gold spans are offsets in the final (possibly evaded) text, as the engine must report them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FILLER = [
    "Der Mandant bittet um Rückruf wegen der Kündigung.",
    "Please review the attached settlement terms before Friday.",
    "Le salarié conteste la rupture conventionnelle.",
    "Ticket migrated from EKS cluster C4 to S3 bucket logs-2024.",
    "Version 2.14.3 was deployed on 2026-05-01 at 10:30:00.",
    "Order 4711 shipped; invoice 2026-0042 is overdue by 14 days.",
    "Meeting moved to room 3.12, dial-in code 845 221.",
    "The claimant worked 38.5 hours per week from 2019 to 2024.",
]
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad"]


@dataclass
class Record:
    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for last in "0123456789":
        digits = body + last
        total = sum(
            (int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if i % 2 else int(c)
            for i, c in enumerate(reversed(digits))
        )
        if total % 10 == 0:
            return digits
    raise AssertionError


def _iban(rng: random.Random) -> str:
    country, length = rng.choice([("DE", 18), ("FR", 23), ("NL", 14), ("ES", 20), ("IT", 23)])
    if country == "NL":
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
        bban += "".join(rng.choice("0123456789") for _ in range(10))
    elif country == "IT":
        bban = rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + "".join(
            rng.choice("0123456789") for _ in range(22)
        )
    else:
        bban = "".join(rng.choice("0123456789") for _ in range(length))
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


def _bsn(rng: random.Random) -> str:
    while True:
        head = "".join(rng.choice("0123456789") for _ in range(8))
        check = sum(int(d) * w for d, w in zip(head, range(9, 1, -1), strict=True)) % 11
        if check < 10 and head != "00000000":
            return head + str(check)


def _pesel(rng: random.Random) -> str:
    month = rng.randrange(1, 13) + rng.choice([0, 20])  # +20: born in the 2000s
    head = f"{rng.randrange(100):02d}{month:02d}{rng.randrange(1, 29):02d}"
    head += "".join(rng.choice("0123456789") for _ in range(4))
    total = sum(int(d) * w for d, w in zip(head, (1, 3, 7, 9, 1, 3, 7, 9, 1, 3), strict=True))
    return head + str((10 - total % 10) % 10)


def _dni(rng: random.Random) -> str:
    number = rng.randrange(10_000_000, 99_999_999)
    return f"{number}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"


def _ssn(rng: random.Random) -> str:
    return f"{rng.randrange(1, 665):03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


def _email(rng: random.Random) -> str:
    name = rng.choice(["anna.schmidt", "j.dupont", "m.rossi", "sanne", "legal-team"])
    domain = rng.choice(["example.de", "corp.example.fr", "mail.example"])
    return f"{name}{rng.randrange(100)}@{domain}"


def _phone(rng: random.Random) -> str:
    return rng.choice(["+49 151 ", "+33 6 ", "+31 6 ", "0049 30 "]) + " ".join(
        "".join(rng.choice("0123456789") for _ in range(4)) for _ in range(2)
    )


def _ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randrange(1, 255)) for _ in range(4))


def _secret(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return rng.choice(
        [
            "AKIA" + "".join(rng.choice(alphabet) for _ in range(16)),
            "00D5E0000000001!" + "".join(rng.choice(alphabet + "abcdef.") for _ in range(39)) + "x",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0."
            + "".join(rng.choice(alphabet) for _ in range(30)),
        ]
    )


# (type, generator, context words placed before the value, may be grouped with spaces)
POSITIVES = [
    ("EMAIL", _email, "Mail:", False),
    ("PHONE", _phone, "Tel.", False),
    ("IBAN", _iban, "IBAN", True),
    (
        "CREDIT_CARD",
        lambda r: _luhn_complete(r, r.choice(["4", "51", str(r.randrange(2221, 2721))]), 16),
        "Karte",
        True,
    ),
    ("CREDIT_CARD", lambda r: _luhn_complete(r, r.choice(["34", "37"]), 15), "Amex", False),
    ("NATIONAL_ID", _bsn, "BSN", False),
    ("NATIONAL_ID", _pesel, "PESEL", False),
    ("NATIONAL_ID", _dni, "DNI", False),
    ("NATIONAL_ID", _ssn, "SSN", False),
    ("SECRET", _secret, "token", False),
    ("IP_ADDRESS", _ipv4, "from", False),
]


def _group(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def _evade(rng: random.Random, value: str) -> str:
    chars = list(value)
    for _ in range(rng.randrange(1, 4)):
        chars.insert(rng.randrange(1, len(chars)), rng.choice(_INVISIBLE))
    if rng.random() < 0.5:
        chars = [chr(0xFF10 + int(c)) if c.isdigit() else c for c in chars]
    return "".join(chars)


def _near_miss(rng: random.Random) -> str:
    """A value one character off a valid one (only types whose check catches that)."""
    _, generate, context, _ = rng.choice(
        [p for p in POSITIVES if p[2] in {"IBAN", "Karte", "BSN", "PESEL", "DNI"}]
    )
    value = generate(rng)
    last = value[-1]
    wrong = (
        str((int(last) + rng.randrange(1, 10)) % 10)
        if last.isdigit()
        else ("A" if last != "A" else "B")
    )
    return f"{context} {value[:-1]}{wrong}"


def generate(count: int, seed: int = 7, evasion_rate: float = 0.2) -> list[Record]:
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        record = Record("")
        parts: list[str] = []
        for _ in range(rng.randrange(1, 4)):
            parts.append(rng.choice(FILLER))
            roll = rng.random()
            if roll < 0.6:
                kind, make, context, groupable = rng.choice(POSITIVES)
                value = make(rng)
                if groupable and rng.random() < 0.5:
                    value = _group(value)
                if (
                    kind in {"IBAN", "CREDIT_CARD", "EMAIL", "NATIONAL_ID"}
                    and rng.random() < evasion_rate
                ):
                    value = _evade(rng, value)
                prefix = " ".join(parts) + f" {context} "
                record.spans.append((kind, len(prefix), len(prefix) + len(value)))
                parts = [prefix + value + "."]
            elif roll < 0.8:
                parts.append(_near_miss(rng) + ".")
        record.text = " ".join(parts)
        records.append(record)
    return records
