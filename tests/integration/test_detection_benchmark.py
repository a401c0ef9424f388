"""The detection benchmark runs, detects every injected pattern, and stays within the false
alarm target on its normal traffic (one seed, shortened)."""

from __future__ import annotations

from benchmarks.detection.bench import run


def test_every_pattern_is_detected_and_false_alarms_stay_within_target() -> None:
    report = run(seed=11, warmup_weeks=3, weeks=2)
    assert report["all_detected"], report["patterns"]
    assert report["normal"]["target_met"], report["normal"]
    assert {p["by"] for p in report["patterns"].values()} == {"volume", "field_sweep", "drip"}
