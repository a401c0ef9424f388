"""Leak canaries: values that look real to every checker (python-stdnum for the IBAN, the
gateway's own DLP for all of them), unique per planting, and found however they are written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from stdnum import iban as stdnum_iban

from sovgw.app.canaries import CanaryFeed, canary_alarm
from sovgw.app.incidents import IncidentDesk
from sovgw.config import load_config
from sovgw.domain.canaries import CanarySet, CanaryWatch, Sighting, new_canaries
from sovgw.domain.dlp import detect
from sovgw.ports import FreshCanaries
from tests.conftest import ROOT
from tests.fakes import MemoryIncidents

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


def _alarm_and_incidents() -> tuple[
    Callable[[Sighting, str], None], MemoryIncidents, list[datetime]
]:
    config = load_config(ROOT / "config" / "gateway.yaml")
    jurisdiction = config.jurisdiction("eu-de")
    assert jurisdiction is not None
    store = MemoryIncidents()
    clock = [datetime(2026, 12, 2, 9, 30, tzinfo=UTC)]
    desk = IncidentDesk(store, jurisdiction, now=lambda: clock[0])
    return canary_alarm(config, [jurisdiction], lambda _: desk), store, clock


def _sighting(path: str = "log_line") -> Sighting:
    planted = new_canaries(ORG, datetime(2026, 12, 1, tzinfo=UTC))
    return Sighting(ORG, planted.canaries[0], path)


ORG = "00D5E0000000001UAA"


def test_sightings_of_a_day_and_path_are_one_incident_even_when_another_process_opens_it() -> None:
    alarm, store, clock = _alarm_and_incidents()
    store.lose_race = {0}  # another process opens today's incident just before this one
    alarm(_sighting(), "rec-1")
    alarm(_sighting(), "rec-2")
    [incident_id] = store.incident_ids()
    events = store.events(incident_id)
    assert [e.by for e in events] == ["someone else", "sovgw:canary-watch", "sovgw:canary-watch"]
    refs = [e.ref for event in events for e in event.evidence if e.kind == "audit_record"]
    assert refs == ["rec-1", "rec-1", "rec-2"]  # the racer's copy carries the same sighting
    alarm(_sighting("model_output"), "rec-3")  # another path: its own incident
    assert len(store.incident_ids()) == 2
    clock[0] += timedelta(days=1)
    alarm(_sighting(), "rec-4")  # another day: its own incident
    assert len(store.incident_ids()) == 3


def test_a_sighting_after_the_days_incident_was_closed_opens_a_new_one() -> None:
    alarm, store, clock = _alarm_and_incidents()
    alarm(_sighting(), "rec-1")
    [first] = store.incident_ids()
    jurisdiction = load_config(ROOT / "config" / "gateway.yaml").jurisdiction("eu-de")
    assert jurisdiction is not None
    IncidentDesk(store, jurisdiction, now=lambda: clock[0]).close(first, by="dpo", note="done")
    clock[0] += timedelta(hours=2)
    alarm(_sighting(), "rec-2")
    assert len(store.incident_ids()) == 2


def test_the_feed_is_fresh_between_reads_and_due_after_its_ttl() -> None:
    """``fresh`` never reads: it gives the watch read last while the TTL runs, None before
    the first read and once a read is due (the caller then reads, off its event loop)."""
    now = [100.0]
    loads: list[float] = []

    class CountingFeed(CanaryFeed):
        def _load(self) -> tuple[CanarySet, ...]:
            loads.append(now[0])
            return ()

    feed: FreshCanaries = CountingFeed(
        load_config(ROOT / "config" / "gateway.yaml"), [], 60, lambda: now[0]
    )
    assert feed.fresh() is None
    watch = feed()
    assert feed.fresh() is watch and loads == [100.0]
    now[0] = 159.0
    assert feed.fresh() is watch and loads == [100.0]
    now[0] = 160.0
    assert feed.fresh() is None and loads == [100.0]
    feed()
    assert loads == [100.0, 160.0]
