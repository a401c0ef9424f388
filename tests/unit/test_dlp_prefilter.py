"""The RE2 prefilter: each detector's looser pattern matches wherever the detector can."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovgw.domain.dlp import engine, prefilter
from sovgw.domain.dlp.normalise import normalise
from sovgw.domain.dlp.prefilter import CASE_EXTRAS, Prefilter, loosened, shadow
from tests.unit.dlp_texts import DETECTOR_PIECES


def _every_code_point() -> str:
    return "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)


def test_case_extras_are_every_character_python_matches_for_an_ascii_letter() -> None:
    """Python's IGNORECASE takes these and no other non-ASCII characters for a letter."""
    everything = _every_code_point()
    for letter in "abcdefghijklmnopqrstuvwxyz":
        found = set(re.findall(letter, everything, re.IGNORECASE))
        assert found == {letter, letter.upper(), *CASE_EXTRAS.get(letter, "")}, letter


def test_the_shadow_keeps_ascii_and_0_writes_digits_1_and_one_substitute_per_other_char() -> None:
    assert shadow("Tel. \uff10\uff11 caf\u00e9 \ud800! 0612-39") == b"Tel. ?? caf? ?! 0111-11"


def _found_by(detector: engine.Detector, text: str) -> bool:
    """The detector's regex matches with its label before it (no checksum: a looser test)."""
    for match in detector.pattern.compiled().finditer(text):
        before = text[max(0, match.start() - 64) : match.start()]
        if detector.context is None or detector.context.compiled().search(before):
            return True
    return False


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(DETECTOR_PIECES), max_size=40))
def test_a_detector_the_prefilter_skips_never_matches(pieces: list[str]) -> None:
    text = "".join(pieces)
    candidates = engine._prefilter().candidates(text)
    for order, detector in enumerate(engine.DETECTORS):
        if order not in candidates:
            assert not _found_by(detector, text), (detector.subtype or detector.entity, text)


def test_on_both_corpora_every_detector_that_matches_was_named() -> None:
    from benchmarks.dlp import faker_corpus  # noqa: PLC0415
    from benchmarks.dlp.corpus import generate  # noqa: PLC0415

    texts = [r.text for r in generate(400, seed=5, evasion_rate=0.6)]
    texts += [r.text for r in faker_corpus.generate(400, faker_corpus.DEV_SEEDS[0])]
    named = 0
    for text in texts:
        view = normalise(text).text
        candidates = engine._prefilter().candidates(view)
        for order, detector in enumerate(engine.DETECTORS):
            if _found_by(detector, view):
                assert order in candidates, (detector.subtype or detector.entity, text)
                named += 1
    assert named > 400


def test_a_pass_that_fails_names_every_pattern_of_its_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RE2 answers an automaton out of memory with no match at all: the sentinel pattern, which
    matches every text, is then missing, and the group's detectors all run (fail closed)."""
    patterns = [(re.compile(r"\d{3}"), None), (re.compile(r"[a-z]+@"), None)]
    gate = Prefilter(patterns, [[0], [1]])
    assert gate.candidates("no digits, no at") == frozenset()
    group = gate._sets[1]
    monkeypatch.setattr(group, "_set", type("Failed", (), {"Match": lambda self, text: None})())
    assert gate.candidates("no digits, no at") == frozenset({1})


def test_groups_must_hold_each_pattern_once() -> None:
    patterns = [(re.compile("a"), None), (re.compile("b"), None)]
    with pytest.raises(ValueError, match="exactly one group"):
        Prefilter(patterns, [[0], [0, 1]])


def test_labelled_detectors_share_one_automaton_and_the_others_are_grouped_by_name() -> None:
    labelled, *named, rest = engine._prefilter_groups()
    every = [i for group in engine._prefilter_groups() for i in group]
    assert sorted(every) == list(range(len(engine.DETECTORS) + 1))
    assert labelled == [i for i, d in enumerate(engine.DETECTORS) if d.context is not None]
    assert engine._BASE64 in rest
    for group, names in zip(named, engine.PREFILTER_GROUPS, strict=True):
        assert {
            engine.DETECTORS[i].subtype or engine.DETECTORS[i].entity.value for i in group
        } == set(names)


@pytest.mark.parametrize(
    ("pattern", "texts_it_must_match"),
    [
        (re.compile(r"(?<!\d)9\d{2}([- ])\d{2}\1\d{4}(?!\d)"), ["x 900-12-3456 y", "912 12 3456"]),
        (re.compile(r"(?i:steuer-?id)\W{0,20}$"), ["STEUER-\u0130D: ", "steuerid"]),
        (re.compile(r"[^\s\"']{6,}"), ["caf\u00e9\u00e9\u00e9\u00e9"]),
        (re.compile(r"[^?x]{3}"), ["\u00e9\u00e9\u00e9"]),  # "?" in the shadow stands for them
        (re.compile(r"[^5]{3}"), ["333"]),  # "1" in the shadow stands for 1 to 9
        (re.compile(r"[^0]{3}"), ["333", "\u0660\u0660\u0660"]),  # Arabic-Indic zeros
        (re.compile(r"0[1-9]0"), ["090"]),
        # A lookaround at an edge reads the character it tests, on its own side only.
        (re.compile(r"(?<!a)b(?!c)"), ["cba", "b", "bb"]),
        (re.compile(r"(?<![^x])y"), ["y", "xy"]),
        (re.compile(r"(?<![^xz])y"), ["y", "xy"]),
        (re.compile(r"(?!c)d"), ["cd"]),  # one at the start tests the match's first character
        (re.compile(r"(?<![\d-])\d{3}(?![\d-]|\.\d)"), ["123", " 123. ", "\u00e9123"]),
        (re.compile(r"[2-9]\d{2}"), ["456"]),
        (re.compile(r"\bAIza[\w-]{4}"), ["AIza\u00e9\u00e9-_"]),
        (re.compile(r"[A-Z]{2}\d{2}", re.IGNORECASE), ["\u0131\u017f12", "\u212ak12"]),
    ],
)
def test_loosened_patterns_match_what_python_matches(
    pattern: re.Pattern[str], texts_it_must_match: list[str]
) -> None:
    import re2  # type: ignore[import-untyped]  # noqa: PLC0415

    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    compiled = re2.compile(loosened(pattern).encode(), options)
    for text in texts_it_must_match:
        assert pattern.search(text), text
        assert compiled.search(shadow(text)), text


def _named(text: str) -> set[str]:
    return {
        engine.DETECTORS[i].subtype or engine.DETECTORS[i].entity.value
        for i in engine._prefilter().candidates(text)
        if i < len(engine.DETECTORS)
    }


def test_dates_years_and_bare_labels_name_no_detector() -> None:
    """What made most candidates that then found nothing: a year read as an international
    prefix ("2026" as "00"), a date as a phone, a label with nothing after it."""
    assert _named("Invoice 2026-0042 is due on 2026-05-01, from 2019 to 2024.") == set()
    assert _named("Personnummer: unknown. ID number to follow.") == set()
    assert {"PHONE", "SE_PERSONNUMMER"} <= _named("Personnummer: 19811218-9876, tel 030 1234567")


def test_a_label_is_loosened_without_its_edges() -> None:
    """The engine reads a label in the 64 characters before a value: a lookbehind at the first
    of them sees the start of the text, whatever the character before it is."""
    label = re.compile(r"(?<!\w)id\W{0,20}$")
    assert loosened(label) != loosened(label, edges=False) == loosened(re.compile(r"id\W{0,20}$"))


def test_constructs_it_cannot_loosen_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        loosened(re.compile(r"(a)?(?(1)b|c)"))
    assert prefilter.SUBSTITUTE == "?"


def test_prepare_builds_every_detector_before_the_first_scan() -> None:
    """A server calls it before its port accepts: the first requests build nothing."""
    engine.prepare()
    assert all(scanner is not None for scanner in engine._SCANNERS)
    assert engine._prefilter.cache_info().currsize == 1


def test_a_class_of_ascii_digits_does_not_take_the_substitute() -> None:
    """Widening is for what Python could match: "[0-9]" never matches a non-ASCII character."""
    assert loosened(re.compile("[2-9]")) == r"[\x31]"
    assert loosened(re.compile(r"\d")) == r"[\x30\x31\x3f]"  # Unicode digits: "?" too
    assert loosened(re.compile("0")) == r"[\x30]"
