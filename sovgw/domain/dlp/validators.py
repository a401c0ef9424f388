"""Checksum and structure validators: a candidate that fails its check is not a finding.

Inputs are ASCII (the engine folds Unicode digits first); separators are already removed.
"""

from __future__ import annotations

import calendar
import datetime
import ipaddress
from collections.abc import Callable, Iterator
from operator import mul

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
# ISO 7064 writes A-Z as 10-35 (IBAN, MOD 97-10).
_LETTER_VALUES = {ord(c): str(int(c, 36)) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


# A digit doubled, its digits summed (Luhn): written as one digit, so str.translate does it.
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")
_LUHN_DOUBLED_BYTES = bytes.maketrans(b"0123456789", b"0246813579")
_ZERO = ord("0")


def _ascii_digits(text: str) -> bool:
    """Digits whose byte codes, less the zeros' code, are their values."""
    return text.isascii() and text.isdigit()


def _luhn_sum(digits: str) -> int:
    if not _ascii_digits(digits):
        kept = sum(map(int, digits[-1::-2]))
        return (kept + sum(map(int, digits[-2::-2].translate(_LUHN_DOUBLED)))) % 10
    codes = digits.encode()
    doubled = codes[-2::-2].translate(_LUHN_DOUBLED_BYTES)
    return (sum(codes[-1::-2]) + sum(doubled) - _ZERO * len(codes)) % 10


def luhn(digits: str) -> bool:
    return digits.isdigit() and len(digits) >= 2 and _luhn_sum(digits) == 0


# Maestro's issuer ranges (ISO/IEC 7812 IIN table as card networks publish it).
_MAESTRO = frozenset({5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763})


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
    if (3528 <= four <= 3589 and 16 <= length <= 19) or (four in {1800, 2131} and length == 15):
        return "JCB"
    if four in _MAESTRO and 12 <= length <= 19:
        return "MAESTRO"
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
    if compact.isascii() and compact[4:].isdigit():  # only the country is letters: no translate
        country = _LETTER_VALUES[ord(compact[0])] + _LETTER_VALUES[ord(compact[1])]
        return int(compact[4:] + country + compact[2:4]) % 97 == 1
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_LETTER_VALUES)) % 97 == 1


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
    month = int(body[3:5]) if body.isdigit() else 0
    # INSEE writes 20-42 and 50-99 for a birth month not known; 13-19 and 43-49 never occur.
    if not (1 <= month <= 12 or 20 <= month <= 42 or month >= 50):
        return False
    return 97 - int(body) % 97 == int(key)


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_date(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    return day <= _MONTH_DAYS[month] or (month == 2 and day == 29 and calendar.isleap(year))


def es_dni_nie(value: str) -> bool:
    value = value.upper()
    if len(value) != 9 or not value[-1].isalpha():
        return False
    number = value[:-1]
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    return number.isdigit() and _ES_LETTERS[int(number) % 23] == value[-1]


# Omocodia: a digit of the date or place written as one of these letters (0-9).
_IT_DIGITS = {**{str(d): d for d in range(10)}, **{c: d for d, c in enumerate("LMNPQRSTUV")}}
_IT_MONTHS = "ABCDEHLMPRST"


def it_codice_fiscale(value: str) -> bool:
    """Check character and birth date (day + 40 for women); digits may be omocodia letters."""
    value = value.upper()
    if len(value) != 16 or not value.isalnum():
        return False
    shape = ((6, 8), (9, 11), (12, 15))
    if not all(char in _IT_DIGITS for start, end in shape for char in value[start:end]):
        return False
    if not value[:6].isalpha() or value[8] not in _IT_MONTHS or not value[11].isalpha():
        return False
    year = _IT_DIGITS[value[6]] * 10 + _IT_DIGITS[value[7]]
    year += 1900 if year >= 20 else 2000
    day = (_IT_DIGITS[value[9]] * 10 + _IT_DIGITS[value[10]]) % 40
    if not _is_date(year, _IT_MONTHS.index(value[8]) + 1, day):
        return False
    total = 0
    for index, char in enumerate(value[:15]):
        if index % 2 == 0:
            total += _IT_ODD[char]
        else:
            total += int(char) if char.isdigit() else ord(char) - ord("A")
    return chr(ord("A") + total % 26) == value[15]


_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)
_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)


def nl_bsn(digits: str) -> bool:
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    return (_weighted(digits[:8], _BSN_WEIGHTS) - int(digits[8])) % 11 == 0


def pl_pesel(digits: str) -> bool:
    if len(digits) != 11 or not digits.isdigit():
        return False
    century = (1900, 2000, 2100, 2200, 1800)[int(digits[2:4]) // 20]
    if not _is_date(century + int(digits[:2]), int(digits[2:4]) % 20, int(digits[4:6])):
        return False
    return (10 - _weighted(digits[:10], _PESEL_WEIGHTS) % 10) % 10 == int(digits[10])


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
        len(digits) == 9 and digits.isdigit() and digits[0] == "9" and digits[3:5] in _ITIN_GROUPS
    )


def us_taxpayer_number(digits: str) -> bool:
    """SSN-shaped: an issued SSN, an ITIN, or area 9xx, which the SSA never issues but which
    still identifies someone wherever it is used as one (masked, never passed)."""
    return us_ssn(digits) or (len(digits) == 9 and digits.isdigit() and digits[0] == "9")


def be_national_number(digits: str) -> bool:
    """Belgian Rijksregisternummer: YYMMDD, a serial and a 97-key over the first nine digits
    (with a 2 in front for people born from 2000). Month 0 or a day out of range mean "not
    known"; a month over 12 is never written (bis numbers add 20 or 40: not this check)."""
    if len(digits) != 11 or not digits.isdigit() or int(digits) == 0:
        return False
    key = int(digits[9:])
    century = 0
    if 97 - int(digits[:9]) % 97 == key:
        century = 1900
    elif (
        2000 + int(digits[:2]) <= datetime.date.today().year
        and 97 - int("2" + digits[:9]) % 97 == key
    ):
        century = 2000
    return century != 0 and int(digits[2:4]) <= 12


def at_social_insurance(digits: str) -> bool:
    """Austrian Versicherungsnummer: the fourth digit checks the other nine (weights mod 11)."""
    if len(digits) != 10 or not digits.isdigit() or digits[0] == "0":
        return False
    weights = (3, 7, 9, 0, 5, 8, 4, 2, 1, 6)
    return str(sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11) == digits[3]


def pt_nif(digits: str) -> bool:
    """Portuguese NIF: nine digits, the last a mod-11 check over the first eight."""
    if len(digits) != 9 or not digits.isdigit() or digits[0] == "0":
        return False
    total = sum((9 - i) * int(d) for i, d in enumerate(digits[:8]))
    return (11 - total) % 11 % 10 == int(digits[8])


def se_personnummer(value: str) -> bool:
    """Swedish personnummer or samordningsnummer: [YY]YYMMDD, "-" (or "+" from the year one
    turns 100), four digits with a Luhn check over the last ten. A samordningsnummer adds 60
    to the day (the reference library does not, so it is not accepted here either)."""
    if len(value) not in (11, 13) or value[-5] not in "-+":
        return False
    digits = value[:-5] + value[-4:]
    if not digits.isdigit():
        return False
    if len(value) == 13:
        year = int(digits[:4])
    else:
        this_year = datetime.date.today().year
        century = this_year // 100 - (int(digits[:2]) > this_year % 100) - (value[-5] == "+")
        year = century * 100 + int(digits[:2])
    month, day = int(digits[-8:-6]), int(digits[-6:-4])
    return _is_date(year, month, day) and luhn(digits[-10:])


def dk_cpr(digits: str) -> bool:
    """Danish CPR number: DDMMYY and a serial whose first digit gives the century. There is no
    checksum since 2007, so the date is the only check (and never in the future)."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    day, month, year = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    if digits[6] in "5678" and year >= 58:
        year += 1800
    elif digits[6] in "0123" or (digits[6] in "49" and year >= 37):
        year += 1900
    else:
        year += 2000
    if not _is_date(year, month, day):
        return False
    return datetime.date(year, month, day) <= datetime.date.today()


_IE_LETTERS = "WABCDEFGHIJKLMNOPQRSTUV"


def ie_pps(value: str) -> bool:
    """Irish PPS number: seven digits, a check letter (mod 23), and since 2013 a second letter
    A, B or H that is part of the check (W, T, X: older suffixes, not checked)."""
    value = value.upper()
    if len(value) not in (8, 9) or not value[:7].isdigit() or value[7] not in _IE_LETTERS:
        return False
    if len(value) == 9 and value[8] not in "ABHWTX":
        return False
    total = sum((8 - i) * int(d) for i, d in enumerate(value[:7]))
    if len(value) == 9 and value[8] in "ABH":
        total += 9 * _IE_LETTERS.index(value[8])
    return _IE_LETTERS[total % 23] == value[7]


def ch_ahv(digits: str) -> bool:
    """Swiss AHV/AVS number (since 2008): 756, nine digits and an EAN-13 check digit."""
    if len(digits) != 13 or not digits.isdigit() or not digits.startswith("756"):
        return False
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == int(digits[12])


def _mod_11_10(digits: str) -> bool:
    """ISO 7064 MOD 11,10 over a number with its check digit."""
    check = 5
    for char in digits:
        check = (((check or 10) * 2) % 11 + int(char)) % 10
    return check == 1


def _mod_97_10(text: str) -> bool:
    """ISO 7064 MOD 97-10 over letters and digits (letters count 10-35)."""
    return int("".join(str(int(char, 36)) for char in text)) % 97 == 1


_FR_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_ES_CIF_FIRST = "ABCDEFGHJNPQRSUVW"


def _ie_check_letter(seven: str, suffix: str) -> str:
    total = sum((8 - i) * int(d) for i, d in enumerate(seven.zfill(7)))
    return _IE_LETTERS[(total + 9 * _IE_LETTERS.index(suffix)) % 23]


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    """The sum of each digit times its weight (as far as the shorter goes); in C for ASCII
    digits, whose codes less the zeros' code are their values."""
    if not _ascii_digits(digits):
        return sum(w * int(d) for w, d in zip(weights, digits, strict=False))
    used = weights[: len(digits)]
    products: Iterator[int] = map(mul, used, digits.encode())
    return sum(products) - _ZERO * sum(used)


def _weighted_mod_11(digits: str, weights: tuple[int, ...]) -> int:
    return _weighted(digits, weights) % 11


def pl_nip(digits: str) -> bool:
    """Polish NIP (tax id, also a sole trader's VAT number): weights mod 11, no check 10."""
    return (
        len(digits) == 10
        and digits.isdigit()
        and not _weighted_mod_11(digits, (6, 5, 7, 2, 3, 4, 5, 6, 7, -1))
    )


def _vat_at(body: str) -> bool:
    return (
        len(body) == 9
        and body[0] == "U"
        and body[1:].isdigit()
        and str((6 - _luhn_sum(body[1:8])) % 10) == body[8]
    )


def _vat_be(body: str) -> bool:
    body = "0" + body if len(body) == 9 else body
    return (
        len(body) == 10
        and body.isdigit()
        and body[0] in "01"
        and int(body) > 0
        and (int(body[:-2]) + int(body[-2:])) % 97 == 0
    )


def _vat_es(body: str) -> bool:
    if len(body) != 9 or not body[1:-1].isdigit():
        return False
    first, last = body[0], body[-1]
    if first in "KLM":
        return _ES_LETTERS[int(body[1:-1]) % 23] == last
    if first.isdigit() or first in "XYZ":
        return es_dni_nie(body)
    if first in _ES_CIF_FIRST:
        check = (10 - _luhn_sum(body[1:8] + "0")) % 10
        return last in (str(check), "JABCDEFGHI"[check])
    return False


def _vat_fr(body: str) -> bool:
    key, siren = body[:2], body[2:]
    if len(body) != 11 or not siren.isdigit() or not all(c in _FR_ALPHABET for c in key):
        return False
    if siren[:3] != "000" and not luhn(siren):  # 000: Monaco, no SIREN
        return False
    if key.isdigit():
        return int(key) == int(siren + "12") % 97
    if key[0].isdigit():
        check = _FR_ALPHABET.index(key[0]) * 24 + _FR_ALPHABET.index(key[1]) - 10
    else:
        check = _FR_ALPHABET.index(key[0]) * 34 + _FR_ALPHABET.index(key[1]) - 100
    return (int(siren) + 1 + check // 11) % 11 == check % 11


def _vat_ie(body: str) -> bool:
    if len(body) not in (8, 9) or not body[0].isdigit() or not body[2:7].isdigit():
        return False
    if not all(c in _IE_LETTERS for c in body[7:]):
        return False
    if body[:7].isdigit():  # 7 digits and 1 or 2 letters (since 2013 the second counts)
        return body[7] == _ie_check_letter(body[:7], body[8:])
    if body[1] in "ABCDEFGHIJKLMNOPQRSTUVWXYZ+*":  # the old form, a letter second
        return body[7] == _ie_check_letter(body[2:7] + body[0], "")
    return False


def _vat_it(body: str) -> bool:
    return (
        len(body) == 11
        and body.isdigit()
        and int(body[:7]) != 0
        and ("001" <= body[7:10] <= "100" or body[7:10] in {"120", "121", "888", "999"})
        and luhn(body)
    )


def _vat_nl(body: str) -> bool:
    return (
        len(body) == 12
        and body[:9].isdigit()
        and body[9] == "B"
        and body[10:].isdigit()
        and int(body[10:]) > 0
        and int(body[:9]) > 0
        and (nl_bsn(body[:9]) or _mod_97_10("NL" + body))
    )


def _birth_number(body: str) -> bool:
    """Czech and Slovak rodné číslo (a person's birth number): 9 digits before 1954, 10 after,
    months +50 for women (+20/+70 when a day's numbers ran out), the 10th digit mod 11."""
    if len(body) not in (9, 10) or not body.isdigit():
        return False
    year, month, day = 1900 + int(body[:2]), int(body[2:4]) % 50 % 20, int(body[4:6])
    if len(body) == 9:
        year -= 100 if year >= 1980 else 0
        if year > 1953:
            return False
    elif year < 1954:
        year += 100
    if not _is_date(year, month, day):
        return False
    return len(body) == 9 or int(body[:-1]) % 11 % 10 == int(body[-1])


def _vat_bg(body: str) -> bool:
    """A company's 9 digits, or 10: a person's EGN or a foreigner's PNF, or another body's."""
    if not body.isdigit():
        return False
    if len(body) == 9:
        check = sum((i + 1) * int(d) for i, d in enumerate(body[:8])) % 11
        if check == 10:
            check = sum((i + 3) * int(d) for i, d in enumerate(body[:8])) % 11
        return check % 10 == int(body[8])
    if len(body) != 10:
        return False
    year, month, day = 1900 + int(body[:2]), int(body[2:4]), int(body[4:6])
    if month > 40:
        year, month = year + 100, month - 40
    elif month > 20:
        year, month = year - 100, month - 20
    egn = _is_date(year, month, day) and (
        _weighted(body, (2, 4, 8, 5, 10, 9, 7, 3, 6)) % 11 % 10 == int(body[9])
    )
    pnf = _weighted(body, (21, 19, 17, 13, 11, 9, 7, 3, 1)) % 10 == int(body[9])
    other = (11 - _weighted(body, (4, 3, 2, 7, 6, 5, 4, 3, 2)) % 11) % 11 == int(body[9])
    return egn or pnf or other


_CY_ODD = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21)


def _vat_cy(body: str) -> bool:
    if len(body) != 9 or not body[:8].isdigit() or body[:2] == "12":
        return False
    total = sum(_CY_ODD[int(d)] for d in body[:8:2]) + sum(int(d) for d in body[1:8:2])
    return body[8] == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[total % 26]


def _vat_cz(body: str) -> bool:
    """A company's 8 digits, an individual's 9 starting with 6, or a person's birth number."""
    if not body.isdigit():
        return False
    if len(body) == 8:
        check = (11 - _weighted(body, (8, 7, 6, 5, 4, 3, 2))) % 11
        return body[0] != "9" and (check or 1) % 10 == int(body[7])
    if len(body) == 9 and body[0] == "6":
        check = _weighted(body[1:8], (8, 7, 6, 5, 4, 3, 2)) % 11
        return (8 - (10 - check) % 11) % 10 == int(body[8])
    return _birth_number(body)


def _vat_el(body: str) -> bool:
    if len(body) != 9 or not body.isdigit():
        return False
    total = 0
    for digit in body[:8]:
        total = total * 2 + int(digit)
    return total * 2 % 11 % 10 == int(body[8])


def _vat_lt(body: str) -> bool:
    if not body.isdigit() or not (
        (len(body) == 9 and body[7] == "1") or (len(body) == 12 and body[10] == "1")
    ):
        return False
    check = sum((1 + i % 9) * int(d) for i, d in enumerate(body[:-1])) % 11
    if check == 10:
        check = sum((1 + (i + 2) % 9) * int(d) for i, d in enumerate(body[:-1]))
    return check % 11 % 10 == int(body[-1])


def _vat_lv(body: str) -> bool:
    """A legal entity's 11 digits (first above 3), or a person's personal code (birth date,
    or since 2017 a code starting 32)."""
    if len(body) != 11 or not body.isdigit():
        return False
    if body[0] > "3":
        return _weighted(body, (9, 1, 4, 8, 3, 10, 2, 5, 7, 6, 1)) % 11 == 3
    personal = (1 + _weighted(body, (10, 5, 8, 4, 2, 1, 6, 3, 7, 9))) % 11 % 10 == int(body[10])
    if body.startswith("32"):
        return personal
    year = int(body[4:6]) + 1800 + int(body[6]) * 100
    return _is_date(year, int(body[2:4]), int(body[:2])) and personal


_RO_COUNTIES = frozenset(
    {f"{n:02d}" for n in range(1, 49)} | {"51", "52", "70", "80", "81", "82", "83"}
)
_RO_CENTURIES = {"1": 1900, "2": 1900, "3": 1800, "4": 1800, "5": 2000, "6": 2000}


def _vat_ro(body: str) -> bool:
    """A company's CUI (2 to 10 digits), or a person's CNP (13: birth date and county)."""
    if not body.isdigit():
        return False
    if len(body) == 13:
        year = int(body[1:3]) + _RO_CENTURIES.get(body[0], 1900)
        check = _weighted(body, (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9)) % 11
        return (
            body[0] != "0"
            and _is_date(year, int(body[3:5]), int(body[5:7]))
            and body[7:9] in _RO_COUNTIES
            and (1 if check == 10 else check) == int(body[12])
        )
    if not 2 <= len(body) <= 10 or body[0] == "0":
        return False
    check = 10 * _weighted(body[:-1].zfill(9), (7, 5, 3, 2, 1, 7, 5, 3, 2)) % 11 % 10
    return check == int(body[-1])


def _vat_si(body: str) -> bool:
    if len(body) != 8 or not body.isdigit() or body[0] == "0":
        return False
    check = 11 - _weighted(body, (8, 7, 6, 5, 4, 3, 2)) % 11
    return (0 if check == 10 else check) == int(body[7])


def _vat_sk(body: str) -> bool:
    if len(body) != 10 or not body.isdigit():
        return False
    if _birth_number(body):
        return True
    return body[0] != "0" and body[2] in "234789" and int(body) % 11 == 0


_VAT: dict[str, Callable[[str], bool]] = {
    "AT": _vat_at,
    "BE": _vat_be,
    "DE": lambda b: len(b) == 9 and b.isdigit() and b[0] != "0" and _mod_11_10(b),
    "DK": lambda b: (
        len(b) == 8
        and b.isdigit()
        and b[0] != "0"
        and not _weighted_mod_11(b, (2, 7, 6, 5, 4, 3, 2, 1))
    ),
    "ES": _vat_es,
    "FR": _vat_fr,
    "IE": _vat_ie,
    "IT": _vat_it,
    "NL": _vat_nl,
    "PL": pl_nip,
    "PT": pt_nif,
    "SE": lambda b: len(b) == 12 and b.isdigit() and b[10:] == "01" and luhn(b[:10]),
    "BG": _vat_bg,
    "CY": _vat_cy,
    "CZ": _vat_cz,
    "EE": lambda b: len(b) == 9 and b.isdigit() and not _weighted(b, (3, 7, 1) * 3) % 10,
    "EL": _vat_el,
    "GR": _vat_el,  # Greece's ISO code; its VAT ids are written EL
    "FI": lambda b: (
        len(b) == 8 and b.isdigit() and not _weighted(b, (7, 9, 10, 5, 8, 4, 2, 1)) % 11
    ),
    "HR": lambda b: len(b) == 11 and b.isdigit() and _mod_11_10(b),
    "HU": lambda b: len(b) == 8 and b.isdigit() and not _weighted(b, (9, 7, 3, 1) * 2) % 10,
    "LT": _vat_lt,
    "LU": lambda b: len(b) == 8 and b.isdigit() and int(b[:6]) % 89 == int(b[6:]),
    "LV": _vat_lv,
    "MT": lambda b: (
        len(b) == 8
        and b.isdigit()
        and b[0] != "0"
        and not _weighted(b, (3, 4, 6, 7, 8, 9, 10, 1)) % 37
    ),
    "RO": _vat_ro,
    "SI": _vat_si,
    "SK": _vat_sk,
}
VAT_COUNTRIES = frozenset(_VAT)


def eu_vat(compact: str) -> bool:
    """An EU VAT id (country prefix and number, no separators) of a country served, checked
    as that country's tax office writes it. A sole trader's VAT id identifies a person."""
    check_country = _VAT.get(compact[:2].upper())
    return check_country is not None and check_country(compact[2:].upper())


_IPV4_NOT_A_HOST = ("0.0.0.0", "255.255.255.255")  # noqa: S104 - compared, never bound


def _ipv4_octet(part: str) -> bool:
    return _ascii_digits(part) and len(part) <= 3 and (part == "0" or part[0] != "0")


def ip_address(value: str) -> bool:
    """An IPv4 or IPv6 address as the ipaddress module reads it, neither unspecified nor the
    IPv4 broadcast address. Dotted IPv4, the common case, is read without it (tests check the
    two agree)."""
    parts = value.split(".")
    if len(parts) == 4 and all(map(_ipv4_octet, parts)):
        return max(map(int, parts)) <= 255 and value not in _IPV4_NOT_A_HOST
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (
        address.is_unspecified or (address.version == 4 and str(address) == "255.255.255.255")
    )
