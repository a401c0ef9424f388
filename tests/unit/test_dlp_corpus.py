"""Accuracy regression guard on the labelled corpus (deterministic seed; no timing)."""

from benchmarks.dlp.bench import score
from benchmarks.dlp.corpus import generate


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
