"""Checksum and structure validators: a candidate that fails its check is not a finding.

Inputs are ASCII (the engine folds Unicode digits first); separators are already removed.
"""

from __future__ import annotations

import ipaddress

_ES_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_IT_ODD = {
    **dict(zip("0123456789", (1, 0, 5, 7, 9, 13, 15, 17, 19, 21), strict=True)),
    **dict(
        zip(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            (
                1,
                0,
                5,
                7,
                9,
                13,
                15,
                17,
                19,
                21,
                2,
                4,
                18,
                20,
                11,
                3,
                6,
                8,
                12,
                14,
                16,
                10,
                22,
                25,
                24,
                23,
            ),
            strict=True,
        )
    ),
}
_UK_BAD_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def luhn(digits: str) -> bool:
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The brand by IIN range and length (None: not a known card number)."""
    length, two, four = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "4" and length in {13, 16, 19}:
        return "VISA"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and length == 16:
        return "MASTERCARD"
    if two in {34, 37} and length == 15:
        return "AMEX"
    if (digits.startswith("6011") or two == 65 or 644 <= int(digits[:3]) <= 649) and length in {
        16,
        19,
    }:
        return "DISCOVER"
    if 3528 <= four <= 3589 and length in {16, 19}:
        return "JCB"
    if (300 <= int(digits[:3]) <= 305 or two in {36, 38}) and length == 14:
        return "DINERS"
    return None


def iban(compact: str) -> bool:
    """ISO 13616 mod-97."""
    compact = compact.upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    if not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def de_tax_id(digits: str) -> bool:
    """German Steuerliche Identifikationsnummer: 11 digits, ISO 7064 MOD 11,10 check digit,
    no leading zero, and in the first ten digits exactly one digit repeated (twice or three
    times)."""
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    counts = sorted((digits[:10].count(d) for d in set(digits[:10])), reverse=True)
    if counts[0] not in {2, 3} or (len(counts) > 1 and counts[1] > 1):
        return False
    product = 10
    for char in digits[:10]:
        total = (int(char) + product) % 10 or 10
        product = (total * 2) % 11
    return (11 - product) % 10 == int(digits[10])


def fr_nir(value: str) -> bool:
    """French NIR: sex, year, month, department (2A/2B for Corsica), ..., and a 97-key."""
    if len(value) != 15 or value[0] not in "12":
        return False
    body, key = value[:13], value[13:]
    if not key.isdigit():
        return False
    corsica = body[5:7]
    if corsica in {"2A", "2B"}:
        body = body[:5] + ("19" if corsica == "2A" else "18") + body[7:]
    if not body.isdigit() or not (1 <= int(body[3:5]) <= 12 or 20 <= int(body[3:5]) <= 42):
        return False
    return 97 - int(body) % 97 == int(key)


def es_dni_nie(value: str) -> bool:
    value = value.upper()
    if len(value) != 9 or not value[-1].isalpha():
        return False
    number = value[:-1]
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    return number.isdigit() and _ES_LETTERS[int(number) % 23] == value[-1]


def it_codice_fiscale(value: str) -> bool:
    value = value.upper()
    if len(value) != 16 or not value.isalnum():
        return False
    total = 0
    for index, char in enumerate(value[:15]):
        if index % 2 == 0:
            total += _IT_ODD[char]
        else:
            total += int(char) if char.isdigit() else ord(char) - ord("A")
    return chr(ord("A") + total % 26) == value[15]


def nl_bsn(digits: str) -> bool:
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (total - int(digits[8])) % 11 == 0


def pl_pesel(digits: str) -> bool:
    if len(digits) != 11 or not digits.isdigit():
        return False
    month = int(digits[2:4]) % 20
    if not 1 <= month <= 12 or not 1 <= int(digits[4:6]) <= 31:
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    total = sum(int(d) * w for d, w in zip(digits[:10], weights, strict=True))
    return (10 - total % 10) % 10 == int(digits[10])


def uk_nino(value: str) -> bool:
    value = value.upper()
    if len(value) != 9 or not (value[:2].isalpha() and value[2:8].isdigit() and value[8] in "ABCD"):
        return False
    first, second = value[0], value[1]
    return first not in "DFIQUV" and second not in "DFIOQUV" and value[:2] not in _UK_BAD_PREFIXES


def us_ssn(digits: str) -> bool:
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


# ITIN groups (IRS): 50-65, 70-88, 90-92, 94-99.
_ITIN_GROUPS = frozenset(
    f"{g:02d}" for g in (*range(50, 66), *range(70, 89), 90, 91, 92, *range(94, 100))
)


def us_itin(digits: str) -> bool:
    """An Individual Taxpayer Identification Number: area 9xx and an ITIN group."""
    return (
        len(digits) == 9
        and digits.isdigit()
        and digits[0] == "9"
        and digits[3:5] in _ITIN_GROUPS
        and digits[5:] != "0000"
    )


def us_taxpayer_number(digits: str) -> bool:
    """SSN-shaped: an issued SSN, an ITIN, or area 9xx, which the SSA never issues but which
    still identifies someone wherever it is used as one (masked, never passed)."""
    return us_ssn(digits) or (
        len(digits) == 9 and digits.isdigit() and digits[0] == "9" and digits[5:] != "0000"
    )


def ip_address(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (
        address.is_unspecified or (address.version == 4 and str(address) == "255.255.255.255")
    )
