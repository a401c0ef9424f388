"""The anomaly watcher: close each ended hour of the live query log through the detector, and
answer each flag with an audit record and a containment step (issue #16).

It runs on a schedule (every 15 minutes in AWS) and closes every hour that has ended since
the last run, so a missed run delays detection and loses nothing (up to ``CATCH_UP``; the
feed keeps an hour's reads eight days). One run at a time per jurisdiction: a lease in the
shared store. The count of principals under a flag not yet lifted (suspended; break-glass
work is flagged only) is the metric the stack alarms on: it stays at one or more until an
operator lifts each (``sovgw anomaly lift``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sovgw.adapters.anomaly_metrics import publish_suspended_principals
from sovgw.adapters.salesforce.schema import GATEWAY_READS
from sovgw.app.bootstrap import Dependencies
from sovgw.config import GatewayConfig, Jurisdiction
from sovgw.domain.anomaly import (
    Detector,
    Flag,
    Observation,
    Reads,
    Suspension,
    hour_of,
    hours,
    purpose_reads,
)
from sovgw.domain.audit import anomaly_record, lifting_record
from sovgw.domain.datasets import dataset_reads, load_datasets
from sovgw.domain.errors import RejectedInput
from sovgw.ports import AnomalyStore, AuditSink

CATCH_UP = timedelta(days=7)
# An hour is closed this long after its end, so reads answered just before the hour turned
# have reached the feed; one that arrives later still counts, in the next hour closed.
GRACE = timedelta(minutes=5)
WATCH_LEASE_S = 600


@dataclass(frozen=True)
class WatchRun:
    """What one run did: hours closed, flags raised, and the principals now suspended."""

    busy: bool = False  # another run holds the lease; this one did nothing
    closed: tuple[datetime, ...] = ()
    flags: tuple[tuple[Flag, str], ...] = ()  # each flag and its audit record id
    suspended: dict[str, list[str]] = field(default_factory=dict)  # org → flagged principals


def watch_anomalies(
    store: AnomalyStore,
    audit: AuditSink,
    config: GatewayConfig,
    jurisdiction: Jurisdiction,
    *,
    now: datetime,
    datasets: Path | None = None,
    emit_metric: bool = True,
) -> WatchRun:
    """Close every ended hour not yet closed, contain each flag, publish the suspensions
    (the metric: not from an operator's run, whose output is its report).
    ``datasets``: the training dataset definitions, whose exports read what they name."""
    reads = expected_reads(datasets)
    with store.watching(jurisdiction.id, WATCH_LEASE_S) as mine:
        if not mine:
            return WatchRun(busy=True)
        saved = store.load_detector(jurisdiction.id)
        detector = Detector.restore(reads, saved) if saved else Detector(reads)
        end = hour_of(now - GRACE)
        fed = store.open_hours(jurisdiction.id)
        start = _first_hour(detector, fed, end)
        closed = list(hours(start, end))
        late = [hour for hour in fed if hour < start]  # fed after their hour was closed
        raised: list[tuple[Flag, str]] = []
        for index, hour in enumerate(closed):
            seen = store.observations(jurisdiction.id, hour)
            if index == 0:
                seen += [s for h in late for s in store.observations(jurisdiction.id, h)]
            for flag in detector.close_hour(hour, seen):
                raised.append((flag, _contain(store, audit, jurisdiction.id, flag, now)))
        # Only a run that contained every flag moves on: a failed one is redone whole by the
        # next (a flag contained twice is recorded twice; a suspension is set once).
        if closed:
            store.save_detector(jurisdiction.id, detector.snapshot())
            for hour in [*late, *closed]:
                store.forget_hour(jurisdiction.id, hour)
    suspended = {
        org.org_id: sorted(store.suspensions(org.org_id))
        for org in config.orgs
        if org.jurisdiction == jurisdiction.id
    }
    if emit_metric:
        publish_suspended_principals(sum(map(len, suspended.values())), jurisdiction.id)
    return WatchRun(False, tuple(closed), tuple(raised), suspended)


def expected_reads(datasets: Path | None) -> Callable[[Observation], Reads]:
    """What each purpose may read: a request purpose's fields, a dataset purpose's exports,
    and the gateway's own metadata reads."""
    return purpose_reads(GATEWAY_READS, dataset_reads(load_datasets(datasets) if datasets else []))


def _first_hour(detector: Detector, fed: list[datetime], end: datetime) -> datetime:
    """After the last hour closed; on a first run, the earliest hour fed; never more than
    ``CATCH_UP`` back (older reads have left the feed)."""
    if detector.closed_through is not None:
        start = detector.closed_through + timedelta(hours=1)
    else:
        start = fed[0] if fed else end
    return max(start, end - CATCH_UP)


def _contain(
    store: AnomalyStore, audit: AuditSink, jurisdiction: str, flag: Flag, now: datetime
) -> str:
    """The flag's audit record, then the suspension that names it as evidence (a principal
    already suspended stays under its first flag; this one is recorded all the same)."""
    record = anomaly_record(flag, jurisdiction)
    audit.write(record)
    store.suspend(Suspension.of(flag, record.record_id, now))
    return record.record_id


def lift_suspension(
    store: AnomalyStore,
    audit: AuditSink,
    jurisdiction: str,
    *,
    org_id: str,
    principal: str,
    reason: str,
) -> Suspension:
    """An operator reopens the principal's lanes, with a reason, recorded."""
    if not reason.strip():
        raise RejectedInput("say why the suspension is lifted (--reason)")
    lifted = store.lift(org_id, principal)
    if lifted is None:
        raise RejectedInput(f"principal {principal!r} is not suspended in org {org_id[:15]}")
    audit.write(lifting_record(org_id, principal, jurisdiction, reason, lifted.evidence))
    return lifted


def anomaly_store(deps: Dependencies) -> AnomalyStore:
    """The watcher's store on the jurisdiction's shared store (handlers never import
    adapters); without a shared store there is nothing to watch, and it says so."""
    from sovgw.adapters.valkey_anomaly import ValkeyAnomalyStore  # noqa: PLC0415

    return ValkeyAnomalyStore(deps.shared_store().client)
