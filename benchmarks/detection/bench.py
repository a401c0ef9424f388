"""Anomaly detection over a synthetic query log: false alarms on normal traffic, and the
latency of detecting injected exfiltration patterns. JSON output.

Normal traffic: per org, the classify function reads Cases and Contacts with a daily rhythm
(business hours 8-18 busy, nights quiet) and a weekly one (weekends quiet), Poisson noise
around each hour's mean. The first ``--warmup-weeks`` train the baselines; false alarms are
counted over the next ``--weeks``. Then, on one org, each pattern is injected into a copy of
the following week and the time to its first flag is measured:

- ``contacts_at_3am``: ten times the busiest hour's Contact rows, read at 03:00 on a weekday;
- ``case_field_sweep``: one query reading every Case field (40) once;
- ``slow_drip``: 2.5 times the usual Contact rows, every hour for six business hours.

The generator is this benchmark's own, so the false-alarm rate says how the detector copes
with Poisson noise and rhythm, not with a real org's irregularities.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.report import emit
from sovgw.domain.anomaly import Detector, Flag, Observation, hours

ORGS = ("00D5E0000000001UAA", "00D5F0000000002UAA", "00D5H0000000004UAA")
PRINCIPAL = "classify"
CASE_FIELDS = ("Subject", "Description", "Status", "Priority")
ALL_CASE_FIELDS = CASE_FIELDS + tuple(f"Field_{i:02d}__c" for i in range(36))
ALLOWED = {PRINCIPAL: {"Case": CASE_FIELDS, "Contact": ("Name", "Email")}}
PEAK = {"Case": 60.0, "Contact": 40.0}
START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:  # normal approximation, rounded
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _mean(sobject: str, hour: datetime) -> float:
    busy = 8 <= hour.hour < 18
    weekend = hour.weekday() >= 5
    factor = (0.15 if weekend else 1.0) * (1.0 if busy else 0.05)
    return PEAK[sobject] * factor


def _normal_hour(rng: random.Random, hour: datetime) -> list[Observation]:
    seen = []
    for org in ORGS:
        for sobject in PEAK:
            rows = _poisson(rng, _mean(sobject, hour))
            if rows:
                fields = CASE_FIELDS if sobject == "Case" else ("Name", "Email")
                seen.append(Observation(hour, org, PRINCIPAL, sobject, fields, rows))
    return seen


Injection = Callable[[datetime, list[Observation]], list[Observation]]


def _patterns(week: datetime) -> dict[str, tuple[datetime, Injection]]:
    tuesday_3am = week + timedelta(days=1, hours=3)
    wednesday_10 = week + timedelta(days=2, hours=10)
    thursday_9 = week + timedelta(days=3, hours=9)

    def contacts(hour: datetime, seen: list[Observation]) -> list[Observation]:
        if hour == tuesday_3am:
            rows = int(10 * PEAK["Contact"])
            seen = [
                *seen,
                Observation(hour, ORGS[0], PRINCIPAL, "Contact", ("Name", "Email"), rows),
            ]
        return seen

    def sweep(hour: datetime, seen: list[Observation]) -> list[Observation]:
        if hour == wednesday_10:
            seen = [*seen, Observation(hour, ORGS[0], PRINCIPAL, "Case", ALL_CASE_FIELDS, 25)]
        return seen

    def drip(hour: datetime, seen: list[Observation]) -> list[Observation]:
        if thursday_9 <= hour < thursday_9 + timedelta(hours=6):
            rows = int(1.5 * _mean("Contact", hour))  # on top of the usual: 2.5 times
            seen = [
                *seen,
                Observation(hour, ORGS[0], PRINCIPAL, "Contact", ("Name", "Email"), rows),
            ]
        return seen

    return {
        "contacts_at_3am": (tuesday_3am, contacts),
        "case_field_sweep": (wednesday_10, sweep),
        "slow_drip": (thursday_9, drip),
    }


def run(seed: int, warmup_weeks: int, weeks: int) -> dict[str, Any]:
    rng = random.Random(seed)
    detector = Detector(lambda seen: ALLOWED.get(seen.principal, {}))
    started = time.perf_counter()
    warm_end = START + timedelta(weeks=warmup_weeks)
    measured_end = warm_end + timedelta(weeks=weeks)
    false_alarms: list[Flag] = []
    evaluated = 0
    for hour in hours(START, measured_end):
        flags = detector.close_hour(hour, _normal_hour(rng, hour))
        evaluated += 1
        if hour >= warm_end:
            false_alarms += flags
    trained = time.perf_counter() - started
    # Each pattern on its own copy of the detector and the same following week.
    week = [
        (hour, _normal_hour(rng, hour))
        for hour in hours(measured_end, measured_end + timedelta(weeks=1))
    ]
    patterns: dict[str, Any] = {}
    for name, (begins, inject) in _patterns(measured_end).items():
        copy = deepcopy(detector)
        first: Flag | None = None
        for hour, seen in week:
            flags = [f for f in copy.close_hour(hour, inject(hour, seen)) if f.key[0] == ORGS[0]]
            if first is None and hour >= begins and flags:
                first = flags[0]
        patterns[name] = {
            "injected_at": begins.isoformat(),
            "detected": first is not None,
            "by": first.kind if first else None,
            # flags are raised as an hour closes: latency counts to the end of that hour
            "latency_minutes": round(
                (first.hour + timedelta(hours=1) - begins).total_seconds() / 60
            )
            if first
            else None,
        }
    org_weeks = len(ORGS) * weeks
    return {
        "benchmark": "anomaly-detection",
        "seed": seed,
        "orgs": len(ORGS),
        "warmup_weeks": warmup_weeks,
        "measured_weeks": weeks,
        "normal": {
            "false_alarms": len(false_alarms),
            "false_alarms_per_org_week": round(len(false_alarms) / org_weeks, 3),
            "target_per_org_week": 1.0,
            "target_met": len(false_alarms) / org_weeks <= 1.0,
            "by_kind": {
                k: sum(1 for f in false_alarms if f.kind == k)
                for k in sorted({f.kind for f in false_alarms})
            },
        },
        "patterns": patterns,
        "all_detected": all(p["detected"] for p in patterns.values()),
        "hours_evaluated": evaluated,
        "seconds_per_hour_evaluated": round(trained / evaluated, 6),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warmup-weeks", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    emit(run(args.seed, args.warmup_weeks, args.weeks), args.out)
    return 0
