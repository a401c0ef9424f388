"""Accuracy regression guard on the labelled corpus (deterministic seed; no timing)."""

import pytest

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
    """Digit-bearing detectors scan only windows around digits; on long prose mixing the
    corpus's values (evasions and near misses included) the findings are the same as with
    one window over everything."""
    filler = " The parties met again and discussed the matter at length without agreement. " * 4
    texts = [filler.join(r.text for r in generate(12, seed=seed)) for seed in range(40)]
    windowed = [dlp.detect(text) for text in texts]
    monkeypatch.setattr(engine, "_WINDOW_MARGIN", 10**9)
    assert windowed == [dlp.detect(text) for text in texts]
