"""Every Salesforce API name the gateway uses (``sovgw.adapters.salesforce.schema``) exists in
the org's schema as the simulator defines it, with the external ids the upserts rely on; the
SOQL templates run; and the domain spells no Salesforce API name of its own."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce.format import format_soql

from sovgw.adapters.salesforce import schema
from sovgw.sfsim.model import load_schema
from tests.conftest import ORG_A, SeededSimulator

ROOT = Path(__file__).resolve().parents[2]
TYPES = load_schema()

WRITTEN = [
    (schema.AI_RESULT, schema.AI_RESULT_EXTERNAL_ID, schema.AI_RESULT_FIELDS.values()),
    (
        schema.BREAK_GLASS_GRANT,
        schema.BREAK_GLASS_GRANT_EXTERNAL_ID,
        schema.BREAK_GLASS_GRANT_FIELDS.values(),
    ),
]


@pytest.mark.parametrize(("sobject", "external_id", "fields"), WRITTEN)
def test_written_objects_have_every_field_and_their_external_id(
    sobject: str, external_id: str, fields: list[str]
) -> None:
    otype = TYPES[sobject.lower()]
    assert external_id in otype.external_ids
    missing = [f for f in [*fields, external_id] if f.lower() not in otype.fields]
    assert missing == []


def test_read_objects_have_the_fields_read() -> None:
    classification = TYPES[schema.DATA_CLASSIFICATION.lower()]
    assert {f.lower() for f in schema.DATA_CLASSIFICATION_FIELDS.values()} <= set(
        classification.fields
    )
    assignment = TYPES[schema.PERMISSION_SET_ASSIGNMENT.lower()]
    assert {f.lower() for f in schema.PERMISSION_SET_ASSIGNMENT_FIELDS} <= set(assignment.fields)
    assert {schema.USER.lower(), schema.PERMISSION_SET.lower()} <= set(TYPES)


@pytest.mark.parametrize("template", schema.SOQL_TEMPLATES)
def test_every_soql_template_runs_against_the_schema(
    salesforce: SeededSimulator, template: str
) -> None:
    """The simulator checks object and field names as Salesforce does (INVALID_FIELD)."""
    soql = format_soql(template, *map(_value_for, template.split("{}")[:-1]))
    rows = salesforce.sim.rest.query(salesforce.orgs[ORG_A], soql, "62.0")
    assert "records" in rows
    named = set(re.findall(r"\b[A-Za-z_]+__(?:c|mdt)\b", template))
    assert named <= _schema_names(), named


def _value_for(before: str) -> Any:
    """A value of the kind the placeholder after ``before`` takes: a list after IN, a time
    after a range operator, else a string."""
    if before.endswith("IN "):
        return ["x"]
    if before.endswith(("< ", ">= ")):
        return datetime(2026, 10, 1, tzinfo=UTC)
    return "x"


def _schema_names() -> set[str]:
    names = {schema.AI_RESULT, schema.BREAK_GLASS_GRANT, schema.DATA_CLASSIFICATION}
    names |= set(schema.AI_RESULT_FIELDS.values()) | set(schema.BREAK_GLASS_GRANT_FIELDS.values())
    return names | set(schema.DATA_CLASSIFICATION_FIELDS.values())


def test_the_domain_spells_no_salesforce_api_name() -> None:
    """Docstrings may say what the code means in Salesforce's terms; code may not name it."""
    api_name = re.compile(r"\b[A-Za-z0-9_]+__(?:c|e|mdt)\b")
    found = []
    for path in sorted((ROOT / "sovgw" / "domain").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(owner.body[0].value)
            for owner in ast.walk(tree)
            if isinstance(owner, ast.Module | ast.ClassDef | ast.FunctionDef)
            and owner.body
            and isinstance(owner.body[0], ast.Expr)
        }
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and api_name.search(node.value)
        ]
    assert found == []
