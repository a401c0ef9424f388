"""Label tests read backwards answer exactly what a forward search answers."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovgw.domain.dlp import engine
from sovgw.domain.dlp.rewrite import ends_with, fast_start
from tests.unit.dlp_texts import DETECTOR_PIECES, LABEL_PIECES

_LABELS = sorted(
    {p.compiled() for d in engine.DETECTORS for p in (d.context, d.not_after) if p is not None},
    key=lambda p: p.pattern,
)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(LABEL_PIECES), max_size=12))
def test_every_label_reads_the_same_backwards(pieces: list[str]) -> None:
    text = "".join(pieces)[-64:]
    for label in _LABELS:
        assert ends_with(label)(text) == (label.search(text) is not None), (label.pattern, text)


def test_the_labels_found_in_both_corpora_are_found_backwards() -> None:
    from benchmarks.dlp import faker_corpus  # noqa: PLC0415
    from benchmarks.dlp.corpus import generate  # noqa: PLC0415

    texts = [r.text for r in generate(300, seed=3, evasion_rate=0.3)]
    texts += [r.text for r in faker_corpus.generate(300, faker_corpus.DEV_SEEDS[0])]
    tests = [(label, ends_with(label)) for label in _LABELS]
    agreed = 0
    for text in texts:
        for end in range(0, len(text), 7):
            before = text[max(0, end - 64) : end]
            for label, backwards in tests:
                found = label.search(before) is not None
                assert backwards(before) == found, (label.pattern, before)
                agreed += found
    assert agreed > 100


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"(?<![^\W_])(?:bsn)\W{0,20}$", "my bsn: ", True),
        (r"(?<![^\W_])(?:bsn)\W{0,20}$", "mybsn: ", False),  # not at a word's start
        (r"(?<![^\W_])(?:bsn)\W{0,20}$", "bsn:\n", True),  # $ before a final newline
        (r"(?<![^\W_])(?:bsn)\W{0,20}$", "bsn" + "." * 21, False),
        (r"(?<![^\W_])(?:bsn)\W{0,20}$", "bsn" + "." * 20 + "\n", True),
        (r"(?:tel\.?|t[\u00e9e]l[\u00e9e]phone)\W{0,20}$", "T\u00c9L\u00c9PHONE : ", True),
    ],
)
def test_examples(pattern: str, text: str, expected: bool) -> None:
    label = re.compile(pattern, re.IGNORECASE)
    assert (label.search(text) is not None) == expected
    assert ends_with(label)(text) == expected


def test_a_pattern_that_is_not_a_label_is_refused() -> None:
    with pytest.raises(ValueError, match=r"must end with \$"):
        ends_with(re.compile("bsn"))
    with pytest.raises(ValueError, match="lookbehinds"):
        ends_with(re.compile(r"(?=x)bsn$"))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(DETECTOR_PIECES), max_size=40),
    st.integers(0, 200),
    st.integers(0, 200),
)
def test_every_detector_finds_the_same_spans_when_it_starts_fast(
    pieces: list[str], start: int, length: int
) -> None:
    """The rewritten regex of each detector yields the same matches (spans and groups) as the
    written one, over a whole text and over a window of it (lookbehinds see before it)."""
    text = "".join(pieces)
    end = min(len(text), start + length)
    for detector in engine.DETECTORS:
        fast = fast_start(detector.pattern)
        for window in ((0, len(text)), (min(start, end), end)):
            as_written = detector.pattern.compiled().finditer(text, *window)
            written = [(m.span(), m.groups()) for m in as_written]
            assert [(m.span(), m.groups()) for m in fast.finditer(text, *window)] == written


def test_patterns_that_start_with_assertions_start_with_a_character_once_rewritten() -> None:
    rewritten = {
        d.subtype or d.entity.value
        for d in engine.DETECTORS
        if fast_start(d.pattern).pattern != d.pattern.pattern
    }
    assert {"AWS_ACCESS_KEY", "CREDIT_CARD", "IBAN", "IPV4", "NL_BSN", "PL_PESEL", "US_SSN"} <= (
        rewritten
    )
    # \b before a character that need not be a word character cannot move.
    assert fast_start(re.compile(r"\b\(x")).pattern == r"\b\(x"
    assert fast_start(re.compile(r"(?<!\d)\d{3}")).pattern.startswith(r"[\d](?<![\d][\d])")


NESTED = [
    re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)"),
    re.compile(r"(?<![a-z])(?:(?:ab){2}c)+"),
    re.compile(r"(?<!x)(?:\d+?-){1,}y"),
    re.compile(r"\b(?:[a-c]{2,}?\d){2,3}\b"),
]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123.ab-cxy ", max_size=40))
def test_a_repeat_whose_first_element_is_a_repeat_starts_fast_and_matches_the_same(
    text: str,
) -> None:
    """(?:\\d{1,3}\\.){3} starts with one \\d: split there, the same matches in the same order."""
    for pattern in NESTED:
        fast = fast_start(pattern)
        assert fast is not pattern and not fast.pattern.startswith(("(?<", "\\b"))
        assert [m.span() for m in fast.finditer(text)] == [m.span() for m in pattern.finditer(text)]
