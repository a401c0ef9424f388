"""The query-log detectors on small, hand-made hours: what each one flags and what it lets be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sovgw.domain.anomaly import MIN_ROWS, SWEEP_FIELDS, Detector, Observation

ORG = "00D5E0000000001UAA"
MONDAY = datetime(2026, 9, 7, tzinfo=UTC)
ALLOWED = {"classify": {"Case": ("Subject", "Description"), "Contact": ("Name",)}}


def _seen(
    hour: datetime, rows: int, sobject: str = "Contact", fields: tuple[str, ...] = ("Name",)
) -> Observation:
    return Observation(hour, ORG, "classify", sobject, fields, rows)


def _trained(weeks: int = 2) -> Detector:
    """Weekday nights at 2 rows an hour for ``weeks`` weeks."""
    detector = Detector(ALLOWED)
    for day in range(7 * weeks):
        for hour in range(24):
            at = MONDAY + timedelta(days=day, hours=hour)
            detector.close_hour(at, [_seen(at, 2 if hour < 8 else 20)])
    return detector


def test_a_night_burst_is_flagged_and_a_small_one_is_not() -> None:
    detector = _trained()
    night = MONDAY + timedelta(weeks=2, hours=3)
    small = MIN_ROWS // 2  # with the night's other hours, below the floor of six hours too
    assert detector.close_hour(night, [_seen(night, small)]) == []
    later = night + timedelta(days=1)
    [flag] = detector.close_hour(later, [_seen(later, 10 * MIN_ROWS)])
    assert (flag.kind, flag.key) == ("volume", (ORG, "classify", "Contact"))


def test_without_history_a_slot_is_not_judged() -> None:
    detector = Detector(ALLOWED)
    assert detector.close_hour(MONDAY, [_seen(MONDAY, 10 * MIN_ROWS)]) == []


def test_an_object_no_purpose_reads_is_flagged_at_once() -> None:
    [flag] = Detector(ALLOWED).close_hour(MONDAY, [_seen(MONDAY, 1, sobject="User")])
    assert flag.kind == "sensitive_object"


def test_a_sweep_of_fields_is_flagged_once() -> None:
    detector = Detector(ALLOWED)
    every = ("Subject", "Description", *(f"F{i}__c" for i in range(SWEEP_FIELDS)))
    [flag] = detector.close_hour(MONDAY, [_seen(MONDAY, 5, sobject="Case", fields=every)])
    assert flag.kind == "field_sweep"
    again = MONDAY + timedelta(hours=1)
    assert detector.close_hour(again, [_seen(again, 5, sobject="Case", fields=every)]) == []
    fewer = ("Subject", *(f"G{i}__c" for i in range(SWEEP_FIELDS - 1)))
    assert detector.close_hour(again, [_seen(again, 5, sobject="Case", fields=fewer)]) == []


def test_six_busy_hours_at_two_and_a_half_times_their_volume_are_a_drip() -> None:
    detector = _trained(weeks=3)
    day = MONDAY + timedelta(weeks=3)
    kinds = []
    for hour in range(24):
        at = day + timedelta(hours=hour)
        rows = 2 if hour < 8 else 20
        if 9 <= hour < 15:
            rows = 50  # below the hourly floor, every hour
        kinds += [f.kind for f in detector.close_hour(at, [_seen(at, rows)])]
    assert "drip" in kinds and "volume" not in kinds
