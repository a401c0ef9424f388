import json
from pathlib import Path

import jsonschema
import pytest

from sovgw.cli import main
from sovgw.contracts import (
    AIRequestEvent,
    ContractError,
    json_schemas,
    parse_event,
    recognise,
    validate_event,
)
from tests.conftest import ROOT, load_event

VALID = sorted((ROOT / "events").glob("salesforce/*.json")) + sorted(
    (ROOT / "events").glob("aws/*.json")
)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_sample_event_follows_its_contract_and_schema(path: Path) -> None:
    event = json.loads(path.read_text())
    contract = validate_event(event)
    schema = json.loads((ROOT / "events" / "schemas" / f"{contract.name}.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(event)


def test_committed_schemas_match_the_models() -> None:
    for name, schema in json_schemas().items():
        committed = json.loads((ROOT / "events" / "schemas" / f"{name}.schema.json").read_text())
        assert committed == schema, f"events/schemas/{name}.schema.json is stale: run make schemas"


@pytest.mark.parametrize(
    ("relative", "problem"),
    [
        ("invalid/ai_request_missing_purpose.json", "Purpose__c: Field required"),
        ("invalid/ai_request_soql_injection.json", "Record_Id__c: String should match pattern"),
    ],
)
def test_malformed_events_are_refused_with_a_reason_but_without_values(
    relative: str, problem: str
) -> None:
    event = load_event(relative)
    with pytest.raises(ContractError) as raised:
        parse_event(AIRequestEvent, event)
    assert problem in str(raised.value)
    assert "OR Name LIKE" not in str(raised.value)


def test_unknown_event_is_named_in_the_error() -> None:
    with pytest.raises(ContractError, match="detail-type='Mystery__e'"):
        recognise({"source": "aws.partner/salesforce.com/x/y", "detail-type": "Mystery__e"})


def test_extra_envelope_field_is_refused() -> None:
    event = load_event("salesforce/ai_request_dispute_de.json") | {"smuggled": 1}
    with pytest.raises(ContractError, match="smuggled"):
        validate_event(event)


def test_cli_validate_reports_each_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    not_json = tmp_path / "broken.json"
    not_json.write_text("{nope")
    good = str(ROOT / "events/salesforce/ai_request_dispute_de.json")
    bad = str(ROOT / "events/invalid/ai_request_missing_purpose.json")
    assert main(["events", "validate", good]) == 0
    assert main(["events", "validate", good, bad, str(not_json)]) == 1
    out = capsys.readouterr().out
    assert "OK      " in out
    assert "INVALID " + bad in out
    assert "JSONDecodeError" in out
