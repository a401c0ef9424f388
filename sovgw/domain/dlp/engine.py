"""Detection over the normalised view, validated, mapped back to original offsets.

A regex only proposes candidates; a checksum or structural validator decides. Identifiers
that are bare digit runs (BSN, PESEL, German tax id, unformatted SSN) also need a keyword
shortly before them, because random numbers pass such checksums one time in ten or eleven.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from sovgw.domain.dlp import validators as check
from sovgw.domain.dlp.normalise import NormalisedText, normalise
from sovgw.domain.dlp.prefilter import Prefilter
from sovgw.domain.dlp.rewrite import Regex, ends_with, fast_start, is_word_char
from sovgw.domain.levels import DataLevel


class EntityType(StrEnum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    IBAN = "IBAN"
    CREDIT_CARD = "CREDIT_CARD"
    NATIONAL_ID = "NATIONAL_ID"
    SECRET = "SECRET"  # noqa: S105 - an entity name, not a credential
    IP_ADDRESS = "IP_ADDRESS"
    PRIVILEGED = "PRIVILEGED"


ENTITY_LEVELS: dict[EntityType, DataLevel] = {
    EntityType.EMAIL: DataLevel.PERSONAL,
    EntityType.PHONE: DataLevel.PERSONAL,
    EntityType.IBAN: DataLevel.PERSONAL,
    EntityType.CREDIT_CARD: DataLevel.PERSONAL,
    EntityType.NATIONAL_ID: DataLevel.PERSONAL,
    EntityType.IP_ADDRESS: DataLevel.PERSONAL,
    EntityType.SECRET: DataLevel.PRIVILEGED,
    EntityType.PRIVILEGED: DataLevel.PRIVILEGED,
}
_PRIORITY = [
    EntityType.SECRET,
    EntityType.IBAN,  # mod-97 over a longer span beats a Luhn match inside it
    EntityType.CREDIT_CARD,
    EntityType.NATIONAL_ID,
    EntityType.EMAIL,
    EntityType.IP_ADDRESS,
    EntityType.PHONE,
    EntityType.PRIVILEGED,
]


@dataclass(frozen=True)
class Finding:
    entity: EntityType
    start: int
    end: int
    subtype: str | None = None


@dataclass(frozen=True)
class Detector:
    entity: EntityType
    subtype: str | None
    pattern: Regex
    valid: Callable[[str], bool] = lambda _: True
    context: Regex | None = None  # required just before the match
    not_after: Regex | None = None  # vetoes the match when just before it
    # Every match holds a run of at least this many digits (see _DIGIT_RUN) and is at most
    # max_length long: the detector scans only windows that reach that far around such runs.
    min_run_digits: int = 1
    max_length: int = 0  # set for every digit-bearing detector (0: scans everything)
    # How far a match reaches beyond the run of digits it holds, where that is known to be
    # less than max_length (digits and single separators only: 0; a letter or "(" next: 1-2).
    reach: int | None = None


# Separators a value may be written with: every character str.isspace() (which is what \s
# matches), dots, slashes and hyphens; removed by one C-level translate.
_SEPARATORS = dict.fromkeys(
    [ord(c) for c in "./-"]
    + [c for c in (*range(0x21), *range(0x80, 0xA1), *range(0x1680, 0x3001)) if chr(c).isspace()],
)


_ASCII_SEPARATORS = bytes(code for code in _SEPARATORS if code < 0x80)


def _compact(text: str) -> str:
    if text.isascii():  # bytes.translate deletes in C; str.translate looks each one up
        return text.encode().translate(None, _ASCII_SEPARATORS).decode()
    return text.translate(_SEPARATORS)


def _digits(validator: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda text: validator(_compact(text))


def _card(text: str) -> bool:
    digits = _compact(text)
    return check.card_brand(digits) is not None and check.luhn(digits)


def _phone(text: str) -> bool:
    """9 to 15 digits, E.164's maximum (a trunk "(0)" written inside is not dialled): a
    16-digit run grouped like a phone is a card or a reference, never a phone."""
    return 9 <= sum(ch.isdigit() for ch in text.replace("(0)", "")) <= 15


def _nanp(text: str) -> bool:
    """NANP exchange codes are never N11 (service codes). An N11 area code is not assigned
    either, but a number written with one still reads as a phone: masked (fail closed)."""
    return _compact(text)[4:6] != "11"


def _ctx(words: str) -> Regex:
    return Regex(rf"(?<![^\W_])(?:{words})\W{{0,20}}$", re.IGNORECASE)


# Identity-like labels in the languages served: after one of these, a checksum-valid number
# is an identifier whatever its exact name ("ID number", "national id", "nº", "Kennung",
# compounds such as "Ausweisnummer" or "identiteitsnummer", "identificación").
# Only types with a real check take them; bare SSNs and CPR numbers (no checksum) still need
# their own name.
_GENERIC_ID_LABELS = (
    r"id|ident\w*|\w*nummer|\w*nr\.?|number|n[o°]\.?|num[eé]ro|n[uú]mero|numer|codice|kennung"
)


def _id_ctx(names: str) -> Regex:
    return _ctx(f"{names}|{_GENERIC_ID_LABELS}")


# A generic label that belongs to a business reference ("invoice no.", "order number") does
# not make the number a personal identifier.
_REFERENCE_LABEL = Regex(
    r"(?<![^\W_])(?:order|invoice|ticket|case|reference|ref|po|rechnungs?|bestell|auftrags?"
    r"|facture|commande|factura|pedido|fattura|ordine|factuur|bestelling|zamowienia)"
    r"\W{0,3}(?:number|no\.?|nr\.?|n[o°]\.?|num[eé]ro|n[uú]mero|nummer|numer|id)\W{0,20}$",
    re.IGNORECASE,
)


# A number right after one of these words is an identifier (valid or mistyped), not a phone.
# A payment card's name in the languages served (also compounds: Kartennummer, kaartnummer).
_CARD_WORDS = (
    r"(?:credit |debit )?card(?: number| no\.?)?|\w*kaa?rt\w*|carte(?: bancaire)?|cb"
    r"|carta(?: di credito)?|tarjeta|creditcard|visa|mastercard|maestro|amex|jcb|diners"
)
# Product and catalogue codes: a number after one of these is no card and no phone.
_PRODUCT_CODES = _ctx(r"ean|isbn|gtin|upc|sku")
_ID_WORDS = _ctx(
    r"bsn|burgerservicenummer|sofinummer|pesel|dni|nie|nif|nip|ssn|iban|nir|steuer-?id|idnr"
    r"|tax id|kunden-?nr|rijksregisternummer|personnummer|cpr|ppsn?|ahv|avs|codice fiscale"
    rf"|order|invoice|ticket|rechnung|bestellung|ean|isbn|gtin|upc|sku|{_CARD_WORDS}"
)


# A phone starts a run of digit groups; it never starts inside one (the last groups of a
# 16-digit reference or card number are not a phone).
_NOT_MID_RUN = r"(?<![\w+])(?<!\d )(?<!\w-)(?<!\d\.)(?<!\d/)"

_I = re.IGNORECASE
_PEM_KIND = "(?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?"
_SECRET_NAMES = "|".join(
    (
        "password",
        "passwd",
        "pwd",
        "passwort",
        "mot de passe",
        "secret",
        r"api[_-]?key",
        r"access[_-]?token",
        r"client[_-]?secret",
    )
)
# English, German and French legal-privilege wording; "privileged access" is not among them.
_PRIVILEGE_MARKERS = (
    r"attorney[- ]client privilege[d]?",
    r"privileged (?:and|&) confidential",
    r"attorney work[- ]product",
    r"legally privileged",
    r"subject to legal (?:professional )?privilege",
    r"prepared at the (?:request|direction) of counsel",
    r"anwaltlich(?:e|es)? (?:vertraulich|privilegiert)",
    r"anwaltsgeheimnis",
    r"anwaltliche schweigepflicht",
    r"secret professionnel(?: de l'avocat)?",
    r"confidentiel(?:le)?\W{1,3}avocat",
    r"couvert par le secret",
)
DETECTORS: tuple[Detector, ...] = (
    Detector(
        EntityType.SECRET,
        "PRIVATE_KEY",
        Regex(
            rf"-----BEGIN {_PEM_KIND}PRIVATE KEY-----[\s\S]*?-----END {_PEM_KIND}PRIVATE KEY-----"
        ),
    ),
    Detector(
        EntityType.SECRET,
        "AWS_ACCESS_KEY",
        Regex(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    ),
    Detector(
        EntityType.SECRET,
        "AWS_SECRET_KEY",
        Regex(r"(?i:aws_secret_access_key|aws_secret)\W{1,4}[A-Za-z0-9/+=]{40}\b"),
    ),
    Detector(
        EntityType.SECRET,
        "SALESFORCE_SESSION",
        Regex(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{19,}[A-Za-z0-9_]"),
    ),
    Detector(
        EntityType.SECRET,
        "SALESFORCE_REFRESH_TOKEN",
        Regex(r"\b5Aep[A-Za-z0-9._]{40,}"),
    ),
    Detector(
        EntityType.SECRET,
        "JWT",
        Regex(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}"),
    ),
    Detector(
        EntityType.SECRET,
        "GITHUB_TOKEN",
        Regex(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    ),
    Detector(
        EntityType.SECRET,
        "SLACK_TOKEN",
        Regex(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ),
    Detector(
        EntityType.SECRET,
        "STRIPE_KEY",
        Regex(r"\b[sr]k_live_[A-Za-z0-9]{20,}"),
    ),
    Detector(
        EntityType.SECRET,
        "GOOGLE_API_KEY",
        Regex(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ),
    Detector(
        EntityType.SECRET,
        "PASSWORD_ASSIGNMENT",
        Regex(rf"(?i:\b(?:{_SECRET_NAMES})\s*[=:]\s*)[\"']?[^\s\"']{{6,}}"),
    ),
    Detector(
        EntityType.CREDIT_CARD,
        None,
        Regex(r"(?<![\w+-])(?:\d[ -]?){11,18}\d(?![\d-])"),
        _card,
        not_after=_PRODUCT_CODES,
        min_run_digits=12,
        max_length=37,
        reach=0,
    ),
    Detector(  # any Luhn-valid 12-19 digits after a card's name (Maestro, other IIN ranges)
        EntityType.CREDIT_CARD,
        None,
        Regex(r"(?<![\w+-])(?:\d[ -]?){11,18}\d(?![\d-])"),
        _digits(check.luhn),
        _ctx(_CARD_WORDS),
        min_run_digits=12,
        max_length=37,
        reach=0,
    ),
    Detector(
        EntityType.IBAN,
        None,
        Regex(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
        _digits(check.iban),
        min_run_digits=2,
        max_length=44,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "FR_NIR",
        Regex(r"(?<![\dA-Z])[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\d)", _I),
        _digits(check.fr_nir),
        min_run_digits=8,
        max_length=21,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "IT_CODICE_FISCALE",
        # Digits may be written as letters L-V (omocodia), from the right: one such letter
        # still leaves a run of two digits for the window.
        Regex(r"\b[A-Z]{6}[\dLMNP-V]{2}[A-EHLMPR-T][\dLMNP-V]{2}[A-Z][\dLMNP-V]{3}[A-Z]\b", _I),
        check.it_codice_fiscale,
        min_run_digits=2,
        max_length=16,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "ES_DNI",
        Regex(r"\b\d{8}[ -]?[A-Z]\b", _I),
        _digits(check.es_dni_nie),
        min_run_digits=8,
        max_length=10,
        reach=2,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "ES_NIE",
        Regex(r"\b[XYZ][ -]?\d{7}[ -]?[A-Z]\b", _I),
        _digits(check.es_dni_nie),
        min_run_digits=7,
        max_length=11,
        reach=2,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "UK_NINO",
        Regex(r"\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", _I),
        _digits(check.uk_nino),
        min_run_digits=6,
        max_length=13,
    ),
    Detector(  # before US_SSN: the same span is kept with the first, more precise subtype
        EntityType.NATIONAL_ID,
        "US_ITIN",
        Regex(r"(?<![\d-])9\d{2}([- ])\d{2}\1\d{4}(?![\d-])"),
        _digits(check.us_itin),
        min_run_digits=9,
        max_length=11,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "US_SSN",
        Regex(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"),
        _digits(check.us_taxpayer_number),
        min_run_digits=9,
        max_length=11,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "US_SSN",
        Regex(r"(?<!\d)\d{9}(?!\d)"),
        check.us_taxpayer_number,
        _ctx(r"ssn|social security(?: number| no\.?)?"),
        min_run_digits=9,
        max_length=9,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "DE_TAX_ID",
        Regex(r"(?<!\d)\d{2} ?\d{3} ?\d{3} ?\d{3}(?!\d)"),
        _digits(check.de_tax_id),
        _id_ctx(r"steuer-?id(?:entifikationsnummer)?|steuer-?idnr\.?|idnr\.?|tax id|tin"),
        _REFERENCE_LABEL,
        min_run_digits=11,
        max_length=14,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "NL_BSN",
        Regex(r"(?<!\d)\d{4}\.?\d{2}\.?\d{3}(?!\d)"),
        _digits(check.nl_bsn),
        _id_ctx(r"bsn|burgerservicenummer|sofinummer"),
        _REFERENCE_LABEL,
        min_run_digits=9,
        max_length=11,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "PL_PESEL",
        Regex(r"(?<!\d)\d{11}(?!\d)"),
        check.pl_pesel,
        _id_ctx(r"pesel"),
        _REFERENCE_LABEL,
        min_run_digits=11,
        max_length=11,
        reach=0,
    ),
    Detector(  # a sole trader's NIP is their tax id; written 123-456-32-18 or 123-45-67-819
        EntityType.NATIONAL_ID,
        "PL_NIP",
        Regex(r"(?<![\d-])\d{3}[- ]?\d{2,3}[- ]?\d{2,3}[- ]?\d{2,3}(?![\d-])"),
        _digits(check.pl_nip),
        _id_ctx(r"nip"),
        _REFERENCE_LABEL,
        min_run_digits=10,
        max_length=15,
        reach=0,
    ),
    Detector(  # written YY.MM.DD-SSS.CC: the form itself is the label
        EntityType.NATIONAL_ID,
        "BE_NATIONAL_NUMBER",
        Regex(r"(?<![\d.])\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}(?![\d.]|-\d)"),
        _digits(check.be_national_number),
        min_run_digits=11,
        max_length=15,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "BE_NATIONAL_NUMBER",
        Regex(r"(?<!\d)\d{2}\.?\d{2}\.?\d{2}[-. ]?\d{3}\.?\d{2}(?!\d)"),
        _digits(check.be_national_number),
        _id_ctx(r"rijksregisternummer|registre national|nn|rrn|insz|niss"),
        _REFERENCE_LABEL,
        min_run_digits=11,
        max_length=15,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "AT_SOCIAL_INSURANCE",
        Regex(r"(?<!\d)\d{4} ?\d{6}(?!\d)"),
        _digits(check.at_social_insurance),
        # Its check is one digit mod 11 over ten digits, a common length: own names only.
        _ctx(r"sv-?n(?:umme)?r\.?|(?:sozial)?versicherungsnummer|vsnr"),
        min_run_digits=10,
        max_length=11,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "PT_NIF",
        Regex(r"(?<!\d)\d{3} ?\d{3} ?\d{3}(?!\d)"),
        _digits(check.pt_nif),
        _id_ctx(r"nif|contribuinte"),
        _REFERENCE_LABEL,
        min_run_digits=9,
        max_length=11,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "SE_PERSONNUMMER",
        Regex(r"(?<![\d+-])(?:19|20)?\d{6}[-+]?\d{4}(?![\d-])"),
        lambda text: check.se_personnummer(
            text if text[-5] in "-+" else f"{text[:-4]}-{text[-4:]}"
        ),
        _id_ctx(r"personnummer|personnr\.?|pnr|samordningsnummer"),
        _REFERENCE_LABEL,
        min_run_digits=10,
        max_length=13,
        reach=0,
    ),
    Detector(  # no checksum since 2007: only its own name makes a date-shaped number a CPR
        EntityType.NATIONAL_ID,
        "DK_CPR",
        Regex(r"(?<![\d-])\d{6}-?\d{4}(?![\d-])"),
        _digits(check.dk_cpr),
        _ctx(r"cpr(?:-?n(?:umme)?r\.?)?|personnummer"),
        min_run_digits=10,
        max_length=11,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "IE_PPS",
        Regex(r"(?<![\dA-Z])\d{7}[A-W][ABHWTX]?(?![\dA-Z])", _I),
        _digits(check.ie_pps),
        _id_ctx(r"pps(?:n| no\.?| number)?|personal public service(?: number)?"),
        _REFERENCE_LABEL,
        min_run_digits=7,
        max_length=9,
        reach=2,
    ),
    Detector(  # 756.XXXX.XXXX.XX: the country prefix and the form are the label
        EntityType.NATIONAL_ID,
        "CH_AHV",
        Regex(r"(?<![\d.])756\.\d{4}\.\d{4}\.\d{2}(?![\d.]|\.\d)"),
        _digits(check.ch_ahv),
        min_run_digits=13,
        max_length=16,
        reach=0,
    ),
    Detector(
        EntityType.NATIONAL_ID,
        "CH_AHV",
        Regex(r"(?<!\d)756 ?\d{4} ?\d{4} ?\d{2}(?!\d)"),
        _digits(check.ch_ahv),
        _id_ctx(r"ahv|avs|ahv-?nr\.?|sozialversicherungsnummer|num[eé]ro avs"),
        _REFERENCE_LABEL,
        min_run_digits=13,
        max_length=16,
        reach=0,
    ),
    Detector(  # the country prefix and each country's exact form make the label
        EntityType.NATIONAL_ID,
        "EU_VAT",
        Regex(
            # The country prefix in capitals; letters after it are read in either case.
            r"\b(?:ATU\d{8}|BE ?[01]?\d{3}(?:[ .]?\d{3}){2}|DE ?\d{9}|DK ?\d{2}(?: ?\d{2}){3}"
            r"|ES ?[A-Za-z\d]\d{7}[A-Za-z\d]|FR ?[\dA-HJ-NP-Za-hj-np-z]{2} ?\d{3} ?\d{3} ?\d{3}"
            r"|IE ?\d[A-Za-z\d+*]\d{5}[A-Wa-w][A-Wa-w]?|IT ?\d{11}|NL ?\d{9} ?[Bb]\d{2}"
            r"|PL ?\d{10}|PT ?\d{9}|SE ?\d{10}01"
            r"|BG ?\d{9,10}|CY ?\d{8}[A-Za-z]|CZ ?\d{8,10}|EE ?\d{9}|(?:EL|GR) ?\d{9}"
            r"|FI ?\d{8}|HR ?\d{11}|HU ?\d{8}|LT ?(?:\d{9}|\d{12})|LU ?\d{8}|LV ?\d{11}"
            r"|MT ?\d{8}|RO ?(?:\d{5,10}|\d{13})|SI ?\d{8}|SK ?\d{10})(?![\w+*])"
        ),
        _digits(check.eu_vat),
        min_run_digits=5,
        max_length=17,
    ),
    Detector(
        EntityType.EMAIL,
        None,
        Regex(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    ),
    Detector(
        EntityType.IP_ADDRESS,
        "IPV4",
        Regex(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)"),
        check.ip_address,
        min_run_digits=4,
        max_length=15,
        reach=0,
    ),
    Detector(
        EntityType.IP_ADDRESS,
        "IPV6",
        Regex(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"),
        # Eight groups, or fewer with "::": anything else is no address (times like 10:30:00).
        lambda t: ("::" in t or t.count(":") == 7) and check.ip_address(t),
    ),
    # Phones: an international (+, 00) or trunk (0) prefix, or a phone word just before.
    Detector(
        EntityType.PHONE,
        None,
        # An area code may be written in parentheses: (030) 1234567, (0113)4960179.
        Regex(_NOT_MID_RUN + r"\(?(?:\+|00|0(?=[1-9]))[0-9 ()/.-]{7,22}[0-9](?!-?\w)"),
        _phone,
        not_after=_ID_WORDS,
        max_length=26,
    ),
    Detector(  # US/Canada national format, (NXX) NXX-XXXX: distinctive without a phone word
        EntityType.PHONE,
        "NANP",
        Regex(r"(?<![\w+(])\([2-9]\d{2}\) ?[2-9]\d{2}[-. ]\d{4}(?!\w)"),
        min_run_digits=3,
        max_length=14,
        reach=1,
    ),
    Detector(  # NXX-NXX-XXXX (or with dots): the exchange rule keeps SSNs and dates out
        EntityType.PHONE,
        "NANP",
        Regex(r"(?<![\w+./-])[2-9]\d{2}([-.])[2-9]\d{2}\1\d{4}(?![\w/-]|\.\d)"),
        _nanp,
        min_run_digits=10,
        max_length=12,
        reach=0,
    ),
    Detector(
        EntityType.PHONE,
        None,
        Regex(_NOT_MID_RUN + r"[1-9][0-9 ()/.-]{6,22}[0-9](?!\w)"),
        _phone,
        _ctx(
            r"tel\.?|telefon|phone|t[ée]l[ée]phone|mobile?|handy|portable|call|rufnummer|fax"
            r"|tel[eé]fono|telefoon|telefone|mobiel|m[oó]vil|cellulare|cell|kom[oó]rka|bel|gsm"
        ),
        max_length=24,
    ),
    Detector(
        EntityType.PRIVILEGED,
        None,
        Regex("|".join(_PRIVILEGE_MARKERS), _I),
    ),
)


# Values of the digit-bearing types lie around runs of digits: detectors with a max_length
# scan only windows around them (as far as a value can reach), which keeps long prose cheap.
# IPv6 can be written without digits, so it has none and scans everything.
_DIGIT_RUN = re.compile(r"\d(?:[\d\s./+()-]{0,3}\d)*")
_NOT_DIGIT = re.compile(r"\D")


def _digit_runs(text: str) -> list[tuple[int, int, int]]:
    """``(start, end, digit count)`` of every run of digits in ``text``."""
    runs = []
    for run in _DIGIT_RUN.finditer(text):
        digits = run.group()
        count = len(digits) if digits.isdigit() else len(digits) - len(_NOT_DIGIT.findall(digits))
        runs.append((run.start(), run.end(), count))
    return runs


def _digit_windows(
    length: int, runs: list[tuple[int, int, int]], min_digits: int, margin: int
) -> list[tuple[int, int]]:
    """Merged ``(start, end)`` windows reaching ``margin`` around the runs of at least
    ``min_digits`` digits."""
    windows: list[tuple[int, int]] = []
    for run_start, run_end, digits in runs:
        if digits < min_digits:
            continue
        start = max(0, run_start - margin)
        end = min(length, run_end + margin)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


# Windowed detectors share windows by class: at least this many digits in a run, and this
# margin around it (one character more than a match reaches: lookaheads and \b see a window's
# end as the text's end). A class's windows hold every member's, so findings are the same.
_RUN_CLASSES = (1, 2, 6, 9, 12)
_MARGIN_CLASSES = (3, 17, 27, 46)
Shape = tuple[int, int] | None
_Test = Callable[[str], bool]


def _shape(detector: Detector) -> Shape:
    if not detector.max_length:
        return None
    run = max(c for c in _RUN_CLASSES if c <= detector.min_run_digits)
    reach = detector.max_length if detector.reach is None else detector.reach
    margin = min(c for c in _MARGIN_CLASSES if c >= reach + 1)
    return run, margin


_SHAPES = tuple(_shape(detector) for detector in DETECTORS)


Scanner = tuple[re.Pattern[str], _Test | None, _Test | None]
_SCANNERS: list[Scanner | None] = [None] * len(DETECTORS)


def _scanner(order: int) -> Scanner:
    """A detector's regex as it runs, and its label and veto tests read from the end of the
    text before a match: rewritten to run faster, matching the same (see rewrite.py). Each is
    built the first time its detector is a candidate (1-2 ms), not at import."""
    scanner = _SCANNERS[order]
    if scanner is None:
        detector = DETECTORS[order]
        scanner = (
            fast_start(detector.pattern),
            ends_with(detector.context) if detector.context else None,
            ends_with(detector.not_after) if detector.not_after else None,
        )
        _SCANNERS[order] = scanner
    return scanner


_RANK = {entity: rank for rank, entity in enumerate(_PRIORITY)}

# A run of base64 or base64url long enough to hold a value (12 characters: 9 bytes), not
# preceded by [\w+/=-] (checked apart: a pattern that starts with a lookbehind is tried at
# every position, one that starts with a class skips to its characters in C).
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}(?![\w+/=-])")
_BASE64 = len(DETECTORS)  # the prefilter's index for a base64 run


# Detectors whose patterns share one prefilter automaton: those with a required label in one
# (its label is what the automaton looks for), the others by subtype (or entity where there is
# none) as below, the rest and base64 runs in the last. Chosen by measuring steady cost on
# unseen texts (about 6 us a text for the three): each automaton costs about 1 us a text to
# call, and too many patterns in one multiply its states, so that every new text builds more.
PREFILTER_GROUPS: tuple[tuple[str, ...], ...] = (
    (
        "PRIVATE_KEY",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "SALESFORCE_SESSION",
        "SALESFORCE_REFRESH_TOKEN",
        "JWT",
        "GITHUB_TOKEN",
        "SLACK_TOKEN",
        "STRIPE_KEY",
        "GOOGLE_API_KEY",
        "PASSWORD_ASSIGNMENT",
        "CREDIT_CARD",
        "IBAN",
        "FR_NIR",
        "IT_CODICE_FISCALE",
        "ES_DNI",
        "ES_NIE",
        "UK_NINO",
        "US_ITIN",
        "US_SSN",
        "BE_NATIONAL_NUMBER",
        "CH_AHV",
    ),
)


def _prefilter_groups() -> list[list[int]]:
    labelled: list[int] = []
    groups: list[list[int]] = [[] for _ in range(len(PREFILTER_GROUPS) + 1)]
    for order, detector in enumerate(DETECTORS):
        name = detector.subtype or detector.entity.value
        if detector.context is not None:
            labelled.append(order)
        else:
            groups[next((i for i, g in enumerate(PREFILTER_GROUPS) if name in g), -1)].append(order)
    groups[-1].append(_BASE64)
    return [labelled, *groups]


@cache
def _prefilter() -> Prefilter:
    """Built on first use (about 30 ms), not at import: a cold start that never scans skips it."""
    patterns = [(d.pattern, d.context) for d in DETECTORS] + [(_BASE64_RUN, None)]
    return Prefilter(patterns, _prefilter_groups())


@cache
def _base64_prefilter() -> Prefilter:
    """For text as written, where it differs from the view (only base64 is looked for there)."""
    return Prefilter([(_BASE64_RUN, None)])


def _base64_runs(text: str) -> Iterator[re.Match[str]]:
    r"""The runs of ``_BASE64_RUN`` not preceded by [\w+/=-]."""
    for match in _BASE64_RUN.finditer(text):
        start = match.start()
        if not start or not (is_word_char(text[start - 1]) or text[start - 1] in "+/=-"):
            yield match


_ENCODED_DEPTH = 2  # base64 of base64 is still read
_REPLACEMENT_CHARACTER = "\ufffd".encode()


def _base64_text(run: str) -> str | None:
    """The text a base64 or base64url run encodes, or None (not base64, or not text).

    Most runs are words and numbers that are neither; they are refused without an exception
    where that is known beforehand, since raising one costs more than the decoding."""
    data = run.rstrip("=")
    if len(data) % 4 == 1:  # one character over a multiple of four: never base64
        return None
    padded = data + "=" * (-len(data) % 4)
    try:
        if "-" in run or "_" in run:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
    except ValueError:  # binascii.Error
        return None
    text = raw.decode("utf-8", "replace")
    if "\ufffd" in text:  # not UTF-8, unless the bytes hold a real U+FFFD
        if _REPLACEMENT_CHARACTER not in raw:
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    readable = text.replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return text if readable.isprintable() else None


# Up to this length a text is one window: working out windows costs more than it saves.
_WHOLE_TEXT_MAX = 400


def _matches(view: NormalisedText, candidates: frozenset[int]) -> list[tuple[int, Finding]]:
    """What the ``candidates`` among the detectors find in the normalised view, overlaps
    included, each with its detector's order."""
    text = view.text
    found: list[tuple[int, Finding]] = []
    whole = [(0, len(text))]
    short = len(text) <= _WHOLE_TEXT_MAX
    runs: list[tuple[int, int, int]] | None = None
    windows_of: dict[Shape, list[tuple[int, int]]] = {}
    for order in candidates:
        if order >= len(DETECTORS):
            continue
        detector = DETECTORS[order]
        pattern, labelled, vetoed = _SCANNERS[order] or _scanner(order)
        shape = _SHAPES[order]
        windows = whole
        if shape is not None and not short:
            if shape not in windows_of:
                if runs is None:
                    runs = _digit_runs(text)
                windows_of[shape] = _digit_windows(len(text), runs, *shape)
            windows = windows_of[shape]
        for window_start, window_end in windows:
            for match in pattern.finditer(text, window_start, window_end):
                if not detector.valid(match.group()):
                    continue
                if labelled or vetoed:
                    before = text[max(0, match.start() - 64) : match.start()]
                    if labelled and not labelled(before):
                        continue
                    if vetoed and vetoed(before):
                        continue
                start, end = view.span(*match.span())
                found.append((order, Finding(detector.entity, start, end, detector.subtype)))
    return found


def _encoded(
    text: str, view: NormalisedText, depth: int, candidates: frozenset[int]
) -> list[Finding]:
    """A base64 run whose text holds a value is a finding as a whole (the most sensitive
    value it holds names it): an encoded e-mail reaches no vendor either. Runs are read as
    written and in the decoded view (base64 inside a URL is often percent-encoded; a padding
    "=" before a line break would read as a quoted-printable soft break there)."""
    found = []
    views: list[tuple[str, NormalisedText | None]] = []
    if view.text != text and _base64_prefilter().candidates(text):
        views.append((text, None))
    if _BASE64 in candidates:
        views.append((view.text, view if view.text != text else None))
    for scanned, mapping in views:
        for match in _base64_runs(scanned):
            decoded = _base64_text(match.group())
            if decoded is None:
                continue
            inner = _detect(decoded, depth + 1)
            if inner:
                entity = min((f.entity for f in inner), key=_RANK.__getitem__)
                start, end = match.span() if mapping is None else mapping.span(*match.span())
                found.append(Finding(entity, start, end, "BASE64"))
    return found


def _detect(text: str, depth: int) -> list[Finding]:
    view = normalise(text)
    candidates = _prefilter().candidates(view.text)
    raw = _matches(view, candidates)
    if depth < _ENCODED_DEPTH:
        raw.extend((len(DETECTORS), finding) for finding in _encoded(text, view, depth, candidates))
    raw.sort(
        key=lambda item: (
            _RANK[item[1].entity],
            item[1].start - item[1].end,
            item[1].start,
            item[0],
        )
    )
    kept: list[Finding] = []
    for _, finding in raw:
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def prepare() -> None:
    """Build what the first scans would build (the prefilter, every detector's rewritten
    regex; about 70 ms): for a server, before its port accepts."""
    _prefilter()
    _base64_prefilter()
    for order in range(len(DETECTORS)):
        _scanner(order)


def detect(text: str) -> list[Finding]:
    """All findings in ``text`` (original offsets), without overlaps."""
    return _detect(text, 0)


def redact(text: str, findings: list[Finding], counter: Counter[EntityType]) -> str:
    """Replace values with numbered placeholders; privilege markers stay readable.

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


def iban_is_valid(candidate: str) -> bool:
    """ISO 13616 mod-97 on an IBAN written with or without separators."""
    return check.iban(_compact(normalise(candidate).text))
