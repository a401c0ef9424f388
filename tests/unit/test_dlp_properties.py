"""Property tests: valid identifiers are always found, one wrong digit never is, and evasions
(zero-width characters, full-width or other-script digits) map back to the original span."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sovgw.domain import dlp
from sovgw.domain.dlp import engine
from sovgw.domain.dlp import validators as check
from sovgw.domain.dlp.normalise import normalise

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def _luhn_complete(body: str) -> str:
    for last in "0123456789":
        if check.luhn(body + last):
            return body + last
    raise AssertionError


def _iban_de(bban: str) -> str:
    rearranged = bban + "DE00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"DE{98 - number % 97:02d}{bban}"


@st.composite
def visa(draw: st.DrawFn) -> str:
    return _luhn_complete("4" + draw(st.text(alphabet="0123456789", min_size=14, max_size=14)))


@st.composite
def iban_de(draw: st.DrawFn) -> str:
    return _iban_de(draw(st.text(alphabet="0123456789", min_size=18, max_size=18)))


@st.composite
def bsn(draw: st.DrawFn) -> str:
    head = draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    total = sum(int(d) * w for d, w in zip(head, range(9, 1, -1), strict=True))
    last = total % 11
    assume(last < 10 and head != "00000000")
    return head + str(last)


@st.composite
def pesel(draw: st.DrawFn) -> str:
    year = draw(st.integers(0, 99))
    month = draw(st.integers(1, 12)) + draw(st.sampled_from([0, 20]))
    day = draw(st.integers(1, 28))
    serial = draw(st.text(alphabet="0123456789", min_size=4, max_size=4))
    head = f"{year:02d}{month:02d}{day:02d}{serial}"
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    total = sum(int(d) * w for d, w in zip(head, weights, strict=True))
    return head + str((10 - total % 10) % 10)


@st.composite
def dni(draw: st.DrawFn) -> str:
    number = draw(st.integers(0, 99_999_999))
    return f"{number:08d}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"


def _found(text: str, entity: dlp.EntityType) -> list[str]:
    return [text[f.start : f.end] for f in dlp.detect(text) if f.entity is entity]


def _flip_last_digit(value: str) -> str:
    return value[:-1] + str((int(value[-1]) + 1) % 10)


@given(visa())
def test_valid_cards_found_and_one_digit_off_not(card: str) -> None:
    assert _found(f"card {card} exp 12/29", dlp.EntityType.CREDIT_CARD) == [card]
    assert _found(f"card {_flip_last_digit(card)} exp", dlp.EntityType.CREDIT_CARD) == []


@given(iban_de())
def test_valid_ibans_found_and_one_digit_off_not(iban: str) -> None:
    grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    assert _found(f"to {iban} now", dlp.EntityType.IBAN) == [iban]
    assert _found(f"to {grouped} now", dlp.EntityType.IBAN) == [grouped]
    assert _found(f"to {_flip_last_digit(iban)} now", dlp.EntityType.IBAN) == []


@given(bsn())
def test_bsn_with_context(value: str) -> None:
    assert _found(f"BSN: {value}", dlp.EntityType.NATIONAL_ID) == [value]
    assert _found(f"order {value}", dlp.EntityType.NATIONAL_ID) == [], "no keyword, no finding"


@given(pesel())
def test_pesel_with_context(value: str) -> None:
    assert _found(f"PESEL {value}", dlp.EntityType.NATIONAL_ID) == [value]
    assert _found(f"PESEL {_flip_last_digit(value)}", dlp.EntityType.NATIONAL_ID) == []


@given(dni())
def test_spanish_dni(value: str) -> None:
    assert _found(f"DNI {value}.", dlp.EntityType.NATIONAL_ID) == [value]
    wrong = value[:-1] + ("A" if value[-1] != "A" else "B")
    assert _found(f"DNI {wrong}.", dlp.EntityType.NATIONAL_ID) == []


_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad", "\u2060", "\u202e"]
_FULLWIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
_ARABIC_INDIC = {str(d): chr(0x0660 + d) for d in range(10)}


@settings(max_examples=200)
@given(
    visa(),
    st.lists(st.sampled_from(_INVISIBLE), min_size=1, max_size=6),
    st.randoms(),
    st.sampled_from(["plain", "fullwidth", "arabic"]),
    st.text(alphabet="abc xyz.", max_size=20),
)
def test_evasions_are_seen_through_and_mapped_to_the_original_span(
    card: str, invisible: list[str], rnd: object, digits_style: str, prefix: str
) -> None:
    table = {"plain": {}, "fullwidth": _FULLWIDTH, "arabic": _ARABIC_INDIC}[digits_style]
    chars = [table.get(c, c) for c in card]
    for mark in invisible:
        chars.insert(rnd.randrange(1, len(chars)), mark)  # type: ignore[attr-defined]
    disguised = "".join(chars)
    text = f"{prefix} pay {disguised} now"
    findings = [f for f in dlp.detect(text) if f.entity is dlp.EntityType.CREDIT_CARD]
    assert len(findings) == 1
    assert text[findings[0].start : findings[0].end] == disguised.strip("".join(_INVISIBLE))


@given(st.text(max_size=200))
def test_normalised_view_maps_every_char_to_an_earlier_or_same_original_index(text: str) -> None:
    view = normalise(text)
    assert len(view.text) == len(view.origin)
    assert list(view.origin) == sorted(view.origin)
    assert all(0 <= i < len(text) for i in view.origin)
    dlp.detect(text)  # never raises on arbitrary Unicode


@settings(max_examples=2000, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("0123456789 ./-\t\n\x1c\u00a0\u2003\u3000a+_"), max_size=30)
)
def test_separators_are_removed_the_same_way_on_the_ascii_path(text: str) -> None:
    assert engine._compact(text) == text.translate(engine._SEPARATORS)
