"""Accuracy regression guard on the labelled corpus (deterministic seed; no timing)."""

import re._parser as re_parser  # type: ignore[import-not-found]

import pytest

from benchmarks.dlp import faker_corpus
from benchmarks.dlp.bench import score
from benchmarks.dlp.corpus import generate
from sovgw.domain import dlp
from sovgw.domain.dlp import engine


def test_every_type_keeps_f1_of_at_least_097_on_the_labelled_corpus() -> None:
    per_type, _ = score(generate(800, seed=11))
    assert set(per_type) >= {
        "EMAIL",
        "PHONE",
        "IBAN",
        "CREDIT_CARD",
        "NATIONAL_ID",
        "SECRET",
        "IP_ADDRESS",
    }
    below = {kind: v["f1"] for kind, v in per_type.items() if v["f1"] < 0.97}
    assert below == {}


def test_digit_windows_find_exactly_what_a_full_scan_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Digit-bearing detectors scan only windows around runs with enough digits for their
    values; on long prose mixing the corpus's values (evasions and near misses included) and
    dates, amounts and references, the findings are the same as with one window over
    everything for every detector."""
    filler = (
        " The parties met again on 12.03.2025 and discussed invoice 2025-0117 (EUR 1,450.00)"
        " at length, without agreement. "
    )
    texts = [filler.join(r.text for r in generate(12, seed=seed)) for seed in range(40)]
    windowed = [dlp.detect(text) for text in texts]
    assert sum(len(found) for found in windowed) > 40 * 12
    monkeypatch.setattr(engine, "_digit_windows", lambda length, *_: [(0, length)])
    assert windowed == [dlp.detect(text) for text in texts]


class _Everything:
    """A prefilter that names every pattern: every detector runs on every text."""

    def candidates(self, text: str) -> frozenset[int]:
        return frozenset(range(len(engine.DETECTORS) + 1))


def test_the_prefilter_never_skips_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The RE2 pass before the regexes only skips detectors that cannot match: without it the
    findings on both corpora and on the unit cases' texts are the same."""
    texts = [r.text for r in generate(600, seed=11, evasion_rate=0.5)]
    texts += [r.text for r in faker_corpus.generate(600, faker_corpus.DEV_SEEDS[1])]
    texts += [
        "PRIVILEGED AND CONFIDENTIAL",
        "PR\u0130V\u0130LEGED AND CONF\u0130DENT\u0130AL",
        "Telefonnummer 612 345 678",
        "kaartnummer: 6304 4617 9966",
        "db Passwort = S3cr3t!pass",
        "via 2001:db8::1 and fe80:0:0:0:0:0:0:1",
        "Attorney work-product",
        "Prepared at the direction of counsel",
        "anwaltliche Schweigepflicht",
        "Couvert par le secret",
        "confidentiel - avocat",
        "m\u00f3vil 612 345 678, kom\u00f3rka 608 539 719, bel 612345678",
        "creditcard 3518268100736042",
        "kaartnummer: 3518268100736042",
        "\u212aaartnummer 3518268100736042, \u017fsn 123-45-6789, \u0130BAN NL91ABNA0417164300",
        "mail: jan%40example.nl, b64 amFuQGV4YW1wbGUubmw= and \ud800 then 612 345 678",
    ]
    checked = [dlp.detect(text) for text in texts]
    assert sum(map(len, checked)) > 1000
    monkeypatch.setattr(engine, "_prefilter", _Everything)
    monkeypatch.setattr(engine, "_base64_prefilter", _Everything)
    assert checked == [dlp.detect(text) for text in texts]


def test_windowed_detectors_declare_how_far_their_matches_reach() -> None:
    """A window must hold any match around its run; the regex's own maximum width says how
    long a match can be. Every digit-bearing detector is windowed, except IPv6."""
    windowed = set()
    for detector in engine.DETECTORS:
        if detector.max_length:
            widest = re_parser.parse(detector.pattern.pattern, detector.pattern.flags).getwidth()
            assert detector.max_length >= widest[1], detector
            windowed.add(detector.subtype or detector.entity.value)
    assert windowed == {
        "CREDIT_CARD", "IBAN", "PHONE", "IPV4", "FR_NIR", "IT_CODICE_FISCALE", "ES_DNI",
        "ES_NIE", "UK_NINO", "US_ITIN", "US_SSN", "DE_TAX_ID", "NL_BSN", "PL_PESEL", "NANP",
        "BE_NATIONAL_NUMBER", "AT_SOCIAL_INSURANCE", "PT_NIF", "SE_PERSONNUMMER", "DK_CPR",
        "IE_PPS", "CH_AHV", "EU_VAT", "PL_NIP",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("value", "entity", "subtype"),
    [
        ("1 85 05 2A 123 456 33", "NATIONAL_ID", "FR_NIR"),  # Corsica: letters split the digits
        ("GB82 WEST 1234 5698 7654 32", "IBAN", None),  # letters in the BBAN
        ("RSSMRA85T10A562S", "NATIONAL_ID", "IT_CODICE_FISCALE"),  # runs of 2, 2 and 3 digits
        ("+49 (0) 151 2345 6789", "PHONE", None),
    ],
)
def test_values_whose_digits_are_split_are_found_in_long_prose(
    value: str, entity: str, subtype: str | None
) -> None:
    prose = "The meeting was held on the usual terms and nothing was agreed. " * 6
    text = f"{prose}Reference: {value}. {prose}"
    found = [(f.entity.value, f.subtype, text[f.start : f.end]) for f in dlp.detect(text)]
    assert found == [(entity, subtype, value)]
