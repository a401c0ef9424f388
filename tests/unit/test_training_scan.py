"""The training scan of one part file: curated (one-way pseudonymised), quarantined with
reasons that never quote values, rejected when malformed; deterministic. Personal values come
from Faker's locale providers (an independent generator), not from the detectors' corpus."""

from __future__ import annotations

import csv
import io
import json

import pytest
from faker import Faker
from pydantic import ValidationError

from sovgw.domain.datasets import DatasetDefinition
from sovgw.domain.levels import DataLevel
from sovgw.domain.training_scan import (
    MAX_FIELD_CHARS,
    OneWayPseudonymiser,
    Reason,
    TrainingGate,
    scan_part,
)

KEY = bytes(range(32))
LEVELS = {
    "Subject": DataLevel.INTERNAL,
    "Description": DataLevel.CONFIDENTIAL,
    "SuppliedEmail": DataLevel.PERSONAL,
    "Comments": DataLevel.PRIVILEGED,
}
PRIVILEGE = "Privileged & Confidential – attorney-client communication."  # noqa: RUF001


def _definition(**overrides: object) -> DatasetDefinition:
    values: dict[str, object] = {
        "id": "cases",
        "version": "1",
        "purpose": "model-training",
        "object": "Case",
        "fields": ("Subject", "Description", "Origin"),
        "allowed_level": DataLevel.CONFIDENTIAL,
    } | overrides
    return DatasetDefinition.model_validate(values)


def _gate(definition: DatasetDefinition | None = None, key: bytes = KEY) -> TrainingGate:
    return TrainingGate(definition or _definition(), LEVELS, OneWayPseudonymiser(key))


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _ids(count: int) -> list[str]:
    return [f"5005E{n:010d}QAA" for n in range(count)]


def test_personal_values_leave_only_as_stable_one_way_tokens() -> None:
    fakes = {locale: Faker(locale) for locale in ("de_DE", "fr_FR", "nl_NL", "it_IT")}
    for seed, fake in enumerate(fakes.values()):
        fake.seed_instance(seed + 20261202)
    values = [(f.email(), f.iban()) for f in fakes.values() for _ in range(25)]
    rows = [
        [record_id, "Dispute", f"Write to {email}; pay to {iban}.", ""]
        for record_id, (email, iban) in zip(_ids(len(values)), values, strict=True)
    ]
    rows.append([_ids(101)[-1], "Again", f"Same person: {values[0][0]}", ""])
    scan = scan_part(_csv(["Id", "Subject", "Description", "Origin"], rows), _gate(), "p")
    assert scan.counts == {"rows": 101, "curated": 101, "quarantined": 0, "rejected": 0}
    curated = b"".join(scan.curated).decode()
    for email, iban in values:
        assert email not in curated and iban not in curated
    first, last = json.loads(scan.curated[0]), json.loads(scan.curated[-1])
    token = first["Description"].split()[2].rstrip(";")
    assert token.startswith("[EMAIL_") and token in last["Description"]  # same value, same token
    assert first["Id"].startswith("[RECORD_") and "5005E" not in curated
    other_key = scan_part(
        _csv(["Id", "Subject", "Description", "Origin"], rows[:1]), _gate(key=b"k" * 32), "p"
    )
    assert token not in other_key.curated[0].decode()  # without the key, no link


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("Description", PRIVILEGE, Reason.PRIVILEGED_CONTENT),
        ("Description", "token ghp_" + "a1B2c3D4e5" * 4, Reason.SECRET_CONTENT),
        ("Origin", "Web", Reason.UNCLASSIFIED_FIELD),
    ],
)
def test_what_must_not_be_trained_on_is_quarantined_with_reasons_not_values(
    field: str, value: str, reason: Reason
) -> None:
    header = ["Id", "Subject", "Description", "Origin"]
    row = dict(zip(header, [_ids(1)[0], "S", "plain text", ""], strict=True)) | {field: value}
    scan = scan_part(_csv(header, [list(row.values())]), _gate(), "p")
    assert scan.counts["quarantined"] == 1 and not scan.curated
    entry = json.loads(scan.quarantined[0])
    assert entry["record"][field] == value  # kept for review, in the quarantine prefix only
    assert [i["reason"] for i in entry["issues"]] == [reason.value]
    assert entry["issues"][0]["field"] == field
    assert value not in json.dumps(entry["issues"])
    assert scan.reasons == {reason.value: 1}
    assert scan.reason_fields == {f"{reason.value}:{field}": 1}


def test_field_levels_decide_before_content() -> None:
    definition = _definition(
        fields=("Subject", "SuppliedEmail", "Comments"), tokenise=("SuppliedEmail",)
    )
    header = ["Id", "Subject", "SuppliedEmail", "Comments"]
    rows = [
        [_ids(2)[0], "S", "anna@example.de", ""],  # a personal field, tokenised whole
        [_ids(2)[1], "S", "", "note"],  # a privileged field: never, whatever it holds
    ]
    scan = scan_part(_csv(header, rows), _gate(definition), "p")
    curated = json.loads(scan.curated[0])
    assert curated["SuppliedEmail"].startswith("[VALUE_") and "anna" not in scan.curated[0].decode()
    assert json.loads(scan.quarantined[0])["issues"] == [
        {"reason": "privileged_field", "field": "Comments"}
    ]
    untokenised = _definition(fields=("Subject", "SuppliedEmail"))
    scan = scan_part(
        _csv(["Id", "Subject", "SuppliedEmail"], [rows[0][:3]]), _gate(untokenised), "p"
    )
    assert json.loads(scan.quarantined[0])["issues"] == [
        {"reason": "field_above_allowed", "field": "SuppliedEmail", "types": ["PERSONAL"]}
    ]


def test_malformed_rows_are_rejected_with_the_reason_and_counted() -> None:
    header = b'"Id","Subject","Description","Origin"\n'
    good = b'"5005E0000000001QAA","ok","fine",""\n'
    rows = [
        b'"5005E0000000002QAA","too","few"\n',
        b'"5005E0000000003QAA","\xff\xfe bad bytes","x",""\n',
        b'"5005E0000000004QAA","' + b"y" * (MAX_FIELD_CHARS + 1) + b'","x",""\n',
        b'"not-an-id","x","x",""\n',
    ]
    scan = scan_part(header + good + b"".join(rows), _gate(), "part-00007")
    assert scan.counts == {"rows": 5, "curated": 1, "quarantined": 0, "rejected": 4}
    rejected = [json.loads(line) for line in scan.rejected]
    assert [r["reason"] for r in rejected] == [
        "malformed_row",
        "invalid_utf8",
        "field_too_large",
        "invalid_record_id",
    ]
    assert rejected[0]["detail"] == "3 cells, 4 expected" and rejected[0]["line"] == 3
    assert rejected[1]["field"] == "Subject" and rejected[2]["field"] == "Subject"
    assert all(r["part"] == "part-00007" for r in rejected)
    assert b"bad bytes" not in b"".join(scan.rejected)


def test_columns_other_than_the_definitions_reject_every_row() -> None:
    scan = scan_part(_csv(["Id", "Subject"], [[_ids(1)[0], "x"]] * 3), _gate(), "p")
    assert scan.counts["rejected"] == 3 and scan.reasons == {"unexpected_columns": 3}


def test_an_unterminated_quote_is_a_rejected_row_not_a_crash() -> None:
    raw = b'"Id","Subject","Description","Origin"\n"5005E0000000001QAA","open\n'
    scan = scan_part(raw, _gate(), "p")
    assert scan.counts == {"rows": 1, "curated": 0, "quarantined": 0, "rejected": 1}
    assert json.loads(scan.rejected[0])["reason"] == "malformed_row"


def test_the_scan_is_deterministic() -> None:
    rows = [[i, "S", "mail max@example.de", ""] for i in _ids(20)]
    raw = _csv(["Id", "Subject", "Description", "Origin"], rows)
    assert scan_part(raw, _gate(), "p") == scan_part(raw, _gate(), "p")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"allowed_level": DataLevel.PERSONAL}, "the most a dataset may allow"),
        ({"filter": "Status = 'Closed' LIMIT 10"}, "WHERE condition only"),
        ({"filter": "Id IN (SELECT CaseId FROM CaseComment)"}, "WHERE condition only"),
        ({"filter": "Status = 'x'; DELETE"}, "WHERE condition only"),
        ({"fields": ("Id", "Subject")}, "Id is always exported"),
        ({"fields": ("Subject", "Subject")}, "listed twice"),
        ({"fields": ("Subject, Owner.Email",)}, "not a field API name"),
        ({"tokenise": ("SuppliedEmail",)}, "does not export"),
    ],
)
def test_definitions_that_could_leak_are_refused(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _definition(**overrides)


def test_the_query_is_bulk_api_shaped_and_the_hash_tracks_the_content() -> None:
    definition = _definition(filter="Status = 'Closed'")
    assert (
        definition.soql
        == "SELECT Id, Subject, Description, Origin FROM Case WHERE Status = 'Closed'"
    )
    assert definition.sha256 == _definition(filter="Status = 'Closed'").sha256
    assert definition.sha256 != _definition(filter="Status = 'New'").sha256
