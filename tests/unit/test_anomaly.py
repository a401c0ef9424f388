"""The query-log detectors on small, hand-made hours: what each one flags and what it lets be."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta

from sovgw.adapters.salesforce.schema import GATEWAY_READS, SOQL_TEMPLATES
from sovgw.domain.anomaly import (
    MIN_ROWS,
    SWEEP_FIELDS,
    Detector,
    Flag,
    Observation,
    Reads,
    Suspension,
    hour_of,
    observation_of,
    purpose_reads,
)
from sovgw.domain.datasets import dataset_reads, load_datasets
from sovgw.domain.query_log import SalesforceCall, normalise_soql, soql_target
from tests.conftest import ROOT

ORG = "00D5E0000000001UAA"
MONDAY = datetime(2026, 9, 7, tzinfo=UTC)
ALLOWED = {"classify": {"Case": ("Subject", "Description"), "Contact": ("Name",)}}


def _allowed(seen: Observation) -> Reads:
    return ALLOWED.get(seen.principal, {})


def _seen(
    hour: datetime, rows: int, sobject: str = "Contact", fields: tuple[str, ...] = ("Name",)
) -> Observation:
    return Observation(hour, ORG, "classify", sobject, fields, rows)


def _trained(weeks: int = 2) -> Detector:
    """Weekday nights at 2 rows an hour for ``weeks`` weeks."""
    detector = Detector(_allowed)
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
    detector = Detector(_allowed)
    assert detector.close_hour(MONDAY, [_seen(MONDAY, 10 * MIN_ROWS)]) == []


def test_an_object_no_purpose_reads_is_flagged_at_once() -> None:
    [flag] = Detector(_allowed).close_hour(MONDAY, [_seen(MONDAY, 1, sobject="User")])
    assert flag.kind == "sensitive_object"


def test_a_sweep_of_fields_is_flagged_once() -> None:
    detector = Detector(_allowed)
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


def _random_hour(rng: random.Random, at: datetime) -> list[Observation]:
    seen = []
    for sobject in ("Case", "Contact", "User"):
        if rng.random() < 0.8:
            rows = rng.choice([0, 1, 5, 20, 300, 3000]) if sobject != "User" else 1
            fields = tuple(rng.sample(["Subject", "Description", "Name", *map(str, range(20))], 9))
            seen.append(Observation(at, ORG, "classify", sobject, fields, rows))
    return seen


def test_a_restored_snapshot_flags_exactly_what_the_detector_never_stopped_would() -> None:
    """The watcher stops after every run: its history goes through JSON between runs."""
    rng = random.Random(3)
    stream = [
        (MONDAY + timedelta(hours=h), _random_hour(rng, MONDAY + timedelta(hours=h)))
        for h in range(24 * 7 * 6)
    ]
    never_stopped = Detector(_allowed)
    stopped = Detector(_allowed)
    expected: list[Flag] = []
    got: list[Flag] = []
    for index, (hour, seen) in enumerate(stream):
        expected += never_stopped.close_hour(hour, seen)
        got += stopped.close_hour(hour, seen)
        if index % 7 == 0:
            stopped = Detector.restore(_allowed, json.loads(json.dumps(stopped.snapshot())))
    assert {f.kind for f in expected} >= {"volume", "sensitive_object", "field_sweep"}
    assert got == expected
    assert stopped.closed_through == stream[-1][0]


def _call(**changes: object) -> SalesforceCall:
    base: dict[str, object] = {
        "org_id": "00D5E0000000001UAA",
        "principal": "classify",
        "purpose": "summarise_case",
        "lane": "INTERACTIVE",
        "grant_id": None,
        "method": "GET",
        "resource": "query",
        "status": 200,
        "rows": 3,
        "bytes": 900,
        "latency_ms": 4.0,
        "sobject": "Contact",
        "fields": ("Name", "Email"),
    }
    return SalesforceCall(**{**base, **changes})  # type: ignore[arg-type]


def test_only_successful_reads_of_records_are_observed() -> None:
    at = datetime(2026, 9, 7, 3, 25, tzinfo=UTC)
    seen = observation_of(_call(), at)
    assert seen == Observation(
        at, ORG, "classify", "Contact", ("Name", "Email"), 3, "summarise_case"
    )
    assert Observation.from_dict(json.loads(json.dumps(seen.as_dict()))) == seen
    assert observation_of(_call(method="POST"), at) is None  # a write (a canary planted)
    job = observation_of(_call(method="POST", resource="jobs/query", rows=None), at)
    assert job is not None and (job.sobject, job.rows) == ("Contact", 0)  # a Bulk API read
    assert observation_of(_call(status=404), at) is None
    assert observation_of(_call(sobject=None, resource="limits"), at) is None
    assert hour_of(at) == datetime(2026, 9, 7, 3, tzinfo=UTC)


def test_a_purpose_reads_its_own_fields_and_the_gateways_metadata_and_nothing_else() -> None:
    at = MONDAY
    case = Observation(at, ORG, "classify", "Case", ("Subject",), 1, "summarise_case")
    reads = purpose_reads(GATEWAY_READS)
    assert reads(case)["Case"] == ("Description", "Priority", "Status", "Subject")
    assert set(GATEWAY_READS) < set(reads(case))
    contact = Observation(at, ORG, "classify", "Contact", ("Email",), 40, "summarise_case")
    [flag] = Detector(reads).close_hour(at, [case, contact])
    assert (flag.kind, flag.sobject) == ("sensitive_object", "Contact")
    unknown = Observation(at, ORG, "classify", "Case", ("Subject",), 1, "no_such_purpose")
    assert reads(unknown) == GATEWAY_READS  # fail closed: only the metadata reads


def test_the_gateways_own_reads_are_every_soql_its_adapters_send() -> None:
    """Every SELECT in the Salesforce adapters is a template in schema.py, so the reads the
    detector expects of any principal (derived from them) are all the gateway makes."""
    sources = (ROOT / "sovgw" / "adapters" / "salesforce").glob("*.py")
    inline = [
        f"{path.name}: {line.strip()}"
        for path in sources
        if path.name != "schema.py"
        for line in path.read_text().splitlines()
        if re.search(r"[\"']SELECT ", line)
    ]
    assert inline == []
    assert len(SOQL_TEMPLATES) >= 12
    for template in SOQL_TEMPLATES:
        sobject, fields = soql_target(normalise_soql(template))
        assert sobject is not None and set(fields) <= set(GATEWAY_READS[sobject]), template
    assert GATEWAY_READS["LoginHistory"] == ("LoginTime", "Status", "UserId")


def test_a_suspension_says_why_without_values() -> None:
    flag = Flag(
        "sensitive_object", (ORG, "classify", "Contact"), MONDAY, "Contact is read by no purpose"
    )
    suspension = Suspension.of(flag, "rec-1", MONDAY + timedelta(hours=1))
    assert Suspension.from_dict(json.loads(json.dumps(suspension.as_dict()))) == suspension
    assert suspension.reason == (
        "principal classify is suspended in non-emergency lanes: anomaly sensitive_object on "
        "Contact in the hour from 2026-09-07 00:00Z (Contact is read by no purpose); "
        "audit record rec-1"
    )


def test_an_export_reads_what_its_datasets_name_and_nothing_else() -> None:
    datasets = load_datasets(ROOT / "config" / "datasets")
    reads = purpose_reads(GATEWAY_READS, dataset_reads(datasets))
    [training] = datasets
    export = Observation(
        MONDAY, ORG, "sovgw export", "Case", ("Id", *training.fields), 0, training.purpose
    )
    contacts = Observation(
        MONDAY, ORG, "sovgw export", "Contact", ("Id", "Email"), 0, training.purpose
    )
    [flag] = Detector(reads).close_hour(MONDAY, [export, contacts])
    assert (flag.kind, flag.sobject) == ("sensitive_object", "Contact")
    elsewhere = Observation(MONDAY, ORG, "sovgw export", "Case", ("Id",), 0, "another-purpose")
    assert Detector(reads).close_hour(MONDAY, [elsewhere])[0].kind == "sensitive_object"
