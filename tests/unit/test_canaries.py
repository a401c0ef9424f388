"""Leak canaries: values that look real to every checker (python-stdnum for the IBAN, the
gateway's own DLP for all of them), unique per planting, and found however they are written."""

from __future__ import annotations

from datetime import UTC, datetime

from stdnum import iban as stdnum_iban

from sovgw.domain.canaries import CanaryWatch, new_canaries
from sovgw.domain.dlp import detect

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def test_canaries_pass_for_real_data_and_are_unique() -> None:
    planted = new_canaries("00D5E0000000001UAA", NOW)
    values = {c.kind: c.value for c in planted.canaries}
    assert stdnum_iban.is_valid(values["iban"])  # an outside checker: a real-looking IBAN
    found = {f.entity.value for f in detect(" ; ".join(values.values()))}
    assert {"EMAIL", "IBAN", "PHONE"} <= found, "the DLP treats them as the data they mimic"
    others = {c.value for _ in range(50) for c in new_canaries("00D5E0000000001UAA", NOW).canaries}
    assert not others & set(values.values())


def test_the_watch_finds_a_canary_however_it_is_written_and_nothing_else() -> None:
    planted = new_canaries("00D5E0000000001UAA", NOW)
    watch = CanaryWatch((planted,))
    values = {c.kind: c.value for c in planted.canaries}
    iban = values["iban"]
    written = [
        values["email"].upper(),
        " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)),
        values["phone"].replace(" ", "-"),
        f"re {values['reference'].lower()}: settled",
    ]
    for text in written:
        sighting = watch.seen(f"Notes: {text}.", "external_prompt")
        assert sighting is not None and sighting.org_id == "00D5E0000000001UAA", text
    assert watch.seen("Pay DE89 3704 0044 0532 0130 00 and call +49 151 2345 6789", "x") is None
    assert not CanaryWatch() and CanaryWatch().seen(values["email"], "x") is None
