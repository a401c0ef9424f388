"""The two canary paths every function shares: a log line and a dead letter's reason. The
value is withheld from both; the sighting becomes an audit record and the alarm."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from sovgw.app.invocation import run_handler
from sovgw.domain.canaries import NO_CANARIES, CanarySet, CanaryWatch, Sighting, new_canaries
from sovgw.domain.errors import RejectedInput
from sovgw.logs import CANARY_WITHHELD, RedactingFormatter, take_sightings, watch_canaries
from tests.factories import make_jurisdiction
from tests.fakes import MemoryAudit


@pytest.fixture
def planted() -> Iterator[CanarySet]:
    yield new_canaries("00D5E0000000001UAA", datetime.now(UTC))
    watch_canaries(NO_CANARIES)
    take_sightings()


def _value(planted: CanarySet, kind: str) -> str:
    return next(c.value for c in planted.canaries if c.kind == kind)


def test_a_log_value_holding_a_canary_is_withheld_and_its_sighting_kept(
    planted: CanarySet,
) -> None:
    watch_canaries(CanaryWatch((planted,)))
    reference = _value(planted, "reference")
    line = RedactingFormatter().serialize({"message": "read", "subject": f"Re: {reference}"})
    assert CANARY_WITHHELD in line and reference not in line
    assert [(s.canary.kind, s.path) for s in take_sightings()] == [("reference", "log_line")]
    assert take_sightings() == [], "taken once"


class Letters:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Mapping[str, Any], str]] = []

    def send(self, function: str, event: Mapping[str, Any], reason: str, attempts: int) -> None:
        self.sent.append((function, event, reason))


def test_a_dead_letter_reason_holding_a_canary_is_withheld_and_raised(planted: CanarySet) -> None:
    iban = _value(planted, "iban")
    watch = CanaryWatch((planted,))
    raised: list[tuple[Sighting, str]] = []
    audit, letters = MemoryAudit(), Letters()
    deps = SimpleNamespace(
        canaries=lambda: watch,
        relay_ledger=None,
        audit=audit,
        dead_letters=letters,
        jurisdiction=make_jurisdiction(),
        on_canary=lambda sighting, record: raised.append((sighting, record)),
    )

    def logic(event: Mapping[str, Any], deps: Any) -> dict[str, Any]:
        raise RejectedInput(f"field holds an unexpected value {iban}")

    outcome = run_handler("classify", logic, {"id": "ev-1", "detail": {}}, deps)  # type: ignore[arg-type]
    assert outcome["status"] == "dead-lettered" and iban not in outcome["reason"]
    [(_, _, reason)] = letters.sent
    assert "withheld: it held a leak canary" in reason and iban not in reason
    [(sighting, record_id)] = raised
    assert sighting.path == "dead_letter_reason"
    assert "leak canary (iban)" in (audit.records[record_id].reason or "")
    assert all(iban not in (r.reason or "") for r in audit.records.values())


def test_a_canary_in_several_fields_of_one_line_is_one_sighting(planted: CanarySet) -> None:
    watch_canaries(CanaryWatch((planted,)))
    reference = _value(planted, "reference")
    RedactingFormatter().serialize({"message": reference, "detail": {"again": reference}})
    assert len(take_sightings()) == 1
