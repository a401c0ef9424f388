"""Values split across the strings of one request are pseudonymised as the reader joins them."""

from __future__ import annotations

import pytest

from sovgw.domain import dlp
from sovgw.domain.pseudonymise import PlaceholderTable, pseudonymise_across, restore


@pytest.mark.parametrize(
    ("texts", "expected", "value"),
    [
        (
            ["Write to jan.jansen@exa", "mple.nl please"],
            ["Write to [EMAIL_1]", " please"],
            "jan.jansen@example.nl",
        ),
        (  # across three strings, the middle one wholly part of the value
            ["IBAN DE89 3704", " 0044 0532", " 0130 00 thanks"],
            ["IBAN [IBAN_1]", "", " thanks"],
            "DE89 3704 0044 0532 0130 00",
        ),
        (
            ["BSN 1112", "22333 on file"],
            ["BSN [NATIONAL_ID_1]", " on file"],
            "111222333",
        ),
    ],
)
def test_a_value_split_across_strings_gets_one_placeholder(
    texts: list[str], expected: list[str], value: str
) -> None:
    table = PlaceholderTable()
    result, spanning = pseudonymise_across(texts, table)
    assert result == expected
    assert len(spanning) == 1 and list(table.mapping.values()) == [value]
    assert restore("".join(result), table.mapping) == "".join(texts)


def test_a_privilege_marker_split_across_strings_is_found_and_left_readable() -> None:
    texts = ["attorney-client", " privileged memo"]
    result, spanning = pseudonymise_across(texts, PlaceholderTable())
    assert result == texts
    assert [f.entity for f in spanning] == [dlp.EntityType.PRIVILEGED]


def test_values_within_one_string_and_unrelated_strings_are_left_alone() -> None:
    texts = ["Contract ends 2026-06-30.", "Please summarise clause 4.2.", "[EMAIL_1] agreed"]
    assert pseudonymise_across(texts, PlaceholderTable()) == (texts, [])
