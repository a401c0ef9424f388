from typing import Any

import pytest
from simple_salesforce.format import format_soql

from sovgw.sfsim import soql

ROWS: list[dict[str, Any]] = [
    {"Id": "1", "Subject": "Alpha", "Priority": "High", "Count__c": 3},
    {"Id": "2", "Subject": "beta", "Priority": "Low", "Count__c": 1},
    {"Id": "3", "Subject": "O'Brien", "Priority": None, "Count__c": 2},
]


def _run(text: str) -> list[str]:
    fields = {"id", "subject", "priority", "count__c"}

    def field(sobject: str, name: str) -> str:
        if name.lower() not in fields:
            raise soql.SoqlError("INVALID_FIELD", f"No such column '{name}'")
        return {"id": "Id", "subject": "Subject", "priority": "Priority", "count__c": "Count__c"}[
            name.lower()
        ]

    def obj(name: str) -> str:
        if name.lower() != "case":
            raise soql.SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return "Case"

    query = soql.parse(text, obj, field)
    return [str(row["Id"]) for row in soql.execute(query, ROWS)]


def test_where_and_or_not_in_like_order_limit() -> None:
    assert _run("SELECT Id FROM Case WHERE Priority = 'high'") == ["1"]
    assert _run("SELECT Id FROM Case WHERE Count__c > 1 AND NOT Subject LIKE 'a%'") == ["3"]
    assert _run("SELECT Id FROM Case WHERE Priority IN ('Low', 'High') ORDER BY Count__c DESC") == [
        "1",
        "2",
    ]
    assert _run("SELECT Id FROM Case WHERE Priority = null OR (Count__c = 1)") == ["2", "3"]
    assert _run("SELECT Id FROM Case ORDER BY Subject LIMIT 2 OFFSET 1") == ["2", "3"]


def test_bound_values_cannot_change_the_query() -> None:
    hostile = "x' OR Subject != '"
    assert _run(format_soql("SELECT Id FROM Case WHERE Subject = {}", hostile)) == []
    assert _run(format_soql("SELECT Id FROM Case WHERE Subject = {}", "O'Brien")) == ["3"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SELECT Id FROM Case WHERE Subject = 'x' OR", "MALFORMED_QUERY"),
        ("SELECT Id FROM Case WHERE Subject = 'x' ; DELETE", "MALFORMED_QUERY"),
        ("SELECT Nope FROM Case", "INVALID_FIELD"),
        ("SELECT Id FROM Secrets", "INVALID_TYPE"),
        ("SELECT Id FROM Case LIMIT -1", "MALFORMED_QUERY"),
    ],
)
def test_errors_carry_salesforce_error_codes(text: str, code: str) -> None:
    with pytest.raises(soql.SoqlError) as raised:
        _run(text)
    assert raised.value.code == code
