"""Anomalies in the integration's Salesforce use, from the query log alone.

The baseline is per org, principal and object, and seasonal: each hour is compared with the
same hour of the same kind of day (weekday or weekend) in the weeks before it, using the
median and the median absolute deviation (MAD), which a few unusual hours in the history do
not move (a mean and standard deviation would be dragged up by the very bursts they should
catch). Four detectors run at the end of each hour:

- ``volume``: rows read in the hour above median + K·1.4826·MAD of its slot, at least
  ``RELATIVE`` times the median and ``MIN_ROWS`` rows (so a quiet slot needs a real read);
- ``drip``: rows read in the last six hours above the bound of six-hour windows ending at
  the same hour (at least ``DRIP_RELATIVE`` times their median): a slow extraction that
  stays below the hourly bound;
- ``field_sweep``: one query reading more fields of an object than the principal's purposes
  name, ``SWEEP_FIELDS`` or more of them never read before by that principal;
- ``sensitive_object``: an object no purpose of the principal reads (a Contact read by a
  function whose purposes read Cases only).

What a principal may read (``purpose_reads``) is what the purpose of its call names
(``sovgw.domain.minimise.PURPOSES``) plus the gateway's own metadata reads, the same for every
principal (the Salesforce adapter's SOQL templates: ``schema.GATEWAY_READS``).

A flag suspends the principal's non-emergency lanes in its org (``Suspension``): break-glass
and emergency work stays available, everything else waits in its queue until an operator
lifts it. Nothing here reads a store: the caller feeds hours of observations, keeps the
history (``snapshot``/``restore``) and applies the suspensions.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sovgw.domain.minimise import PURPOSES
from sovgw.domain.query_log import SalesforceCall

K = 6.0
RELATIVE = 3.0
MIN_ROWS = 200
SWEEP_FIELDS = 8
HISTORY_WEEKS = 4
DRIP_HOURS = 6
DRIP_RELATIVE = 2.0  # six hours at twice their usual volume is no longer noise

Key = tuple[str, str, str]  # org, principal, object
# Break-glass work must reach Salesforce whatever else is contained: a flag on it is recorded
# and alarmed like any other, but never closes its lanes.
NEVER_SUSPENDED = frozenset({"break_glass"})


def suspendable(principal: str) -> bool:
    """Whether a flag closes the principal's non-emergency lanes."""
    return principal not in NEVER_SUSPENDED


def containment_of(principal: str) -> str:
    """The step a flag on ``principal`` takes (what its audit record says)."""
    if suspendable(principal):
        return "non-emergency lanes suspended for the principal in the org"
    return "recorded and alarmed only: break-glass work is never suspended"


Reads = Mapping[str, tuple[str, ...]]  # object → fields


@dataclass(frozen=True)
class Observation:
    """One query-log entry, as far as detection needs it (no values)."""

    at: datetime
    org_id: str
    principal: str
    sobject: str
    fields: tuple[str, ...]
    rows: int
    purpose: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "org_id": self.org_id,
            "principal": self.principal,
            "sobject": self.sobject,
            "fields": list(self.fields),
            "rows": self.rows,
            "purpose": self.purpose,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        return cls(
            datetime.fromisoformat(data["at"]),
            data["org_id"],
            data["principal"],
            data["sobject"],
            tuple(data["fields"]),
            int(data["rows"]),
            data.get("purpose"),
        )


def observation_of(call: SalesforceCall, at: datetime) -> Observation | None:
    """The detector's view of a query-log entry: a successful read of an object's records,
    or a Bulk API query job created to read them (its rows are not known yet: it counts for
    what it reads, not how much). Writes, token requests, limits and failed calls read no
    data."""
    reads = call.method == "GET" or (call.method == "POST" and call.resource == "jobs/query")
    if not reads or call.status >= 400 or call.sobject is None or call.org_id is None:
        return None
    return Observation(
        at,
        call.org_id,
        call.principal,
        call.sobject,
        call.fields,
        call.rows or 0,
        call.purpose,
    )


def purpose_reads(
    gateway_reads: Reads, dataset_reads: Mapping[str, Reads] | None = None
) -> Callable[[Observation], Reads]:
    """What a read may touch: its purpose's objects and fields (a request purpose's, or the
    training datasets' of that purpose, from ``dataset_reads``), and ``gateway_reads`` (the
    gateway's own metadata reads, whoever the principal). A read under no known purpose may
    touch only the latter."""
    datasets = dataset_reads or {}

    @cache
    def of_purpose(purpose: str) -> Reads:
        spec = PURPOSES.get(purpose)
        named = [
            *([spec.fields] if spec else []),
            *([datasets[purpose]] if purpose in datasets else []),
        ]
        if not named:
            return gateway_reads
        merged = {sobject: set(fields) for sobject, fields in gateway_reads.items()}
        for reads in named:
            for sobject, fields in reads.items():
                merged.setdefault(sobject, set()).update(fields)
        return {sobject: tuple(sorted(fields)) for sobject, fields in merged.items()}

    return lambda seen: of_purpose(seen.purpose or "")


@dataclass(frozen=True)
class Flag:
    kind: str
    key: Key
    hour: datetime  # the start of the hour the flag is about
    detail: str

    @property
    def org_id(self) -> str:
        return self.key[0]

    @property
    def principal(self) -> str:
        return self.key[1]

    @property
    def sobject(self) -> str:
        return self.key[2]


@dataclass(frozen=True)
class Suspension:
    """A principal's non-emergency lanes in one org, closed by a flag until an operator lifts
    them (``sovgw anomaly lift``); the audit record of the flag is its evidence."""

    org_id: str
    principal: str
    kind: str
    sobject: str
    hour: datetime
    detail: str
    since: datetime
    evidence: str  # the flag's audit record id

    @classmethod
    def of(cls, flag: Flag, evidence: str, since: datetime) -> Suspension:
        return cls(
            flag.org_id,
            flag.principal,
            flag.kind,
            flag.sobject,
            flag.hour,
            flag.detail,
            since,
            evidence,
        )

    @property
    def reason(self) -> str:
        """What a refused call and ``sovgw health`` say (no value: kinds, names, counts)."""
        state = (
            "is suspended in non-emergency lanes" if suspendable(self.principal) else "is flagged"
        )
        return (
            f"principal {self.principal} {state}: anomaly "
            f"{self.kind} on {self.sobject} in the hour from {self.hour:%Y-%m-%d %H:%M}Z "
            f"({self.detail}); audit record {self.evidence}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "principal": self.principal,
            "kind": self.kind,
            "sobject": self.sobject,
            "hour": self.hour.isoformat(),
            "detail": self.detail,
            "since": self.since.isoformat(),
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Suspension:
        return cls(
            data["org_id"],
            data["principal"],
            data["kind"],
            data["sobject"],
            datetime.fromisoformat(data["hour"]),
            data["detail"],
            datetime.fromisoformat(data["since"]),
            data["evidence"],
        )


def _slot(hour: datetime) -> tuple[bool, int]:
    return hour.weekday() >= 5, hour.hour


def _bound(history: Iterable[int], relative: float = RELATIVE) -> float | None:
    values = list(history)
    if len(values) < 5:  # too little history to judge: no flag yet
        return None
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    return max(median + K * 1.4826 * mad, relative * median, MIN_ROWS)


def _history(
    store: dict[Key, dict[tuple[bool, int], deque[int]]], key: Key, slot: tuple[bool, int]
) -> deque[int]:
    """The key's values of this slot in the last HISTORY_WEEKS weeks (5 weekdays or 2
    weekend days a week)."""
    days = 2 if slot[0] else 5
    return store.setdefault(key, {}).setdefault(slot, deque(maxlen=HISTORY_WEEKS * days))


@dataclass
class Detector:
    """Feed it hour by hour (``close_hour``); it keeps a bounded history per key and slot."""

    reads: Callable[[Observation], Reads]  # what a read may touch: objects and their fields
    closed_through: datetime | None = None  # the start of the last hour closed
    _rows: dict[Key, dict[tuple[bool, int], deque[int]]] = field(default_factory=dict)
    _drip: dict[Key, dict[tuple[bool, int], deque[int]]] = field(default_factory=dict)
    _recent: dict[Key, deque[int]] = field(default_factory=dict)
    _fields_seen: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))

    def close_hour(self, hour: datetime, observations: list[Observation]) -> list[Flag]:
        """The flags of one hour; then the hour joins the history (flagged hours too: the MAD
        is robust to them, and leaving them out would let an attacker hide in gaps)."""
        flags: list[Flag] = []
        per_key: dict[Key, int] = defaultdict(int)
        for seen in observations:
            key = (seen.org_id, seen.principal, seen.sobject)
            per_key[key] += seen.rows
            flags += self._query_flags(key, hour, seen)
        slot = _slot(hour)
        for key in set(per_key) | set(self._rows):
            rows = per_key.get(key, 0)
            history = _history(self._rows, key, slot)
            bound = _bound(history)
            loud = bound is not None and rows > bound
            if loud:
                flags.append(Flag("volume", key, hour, f"{rows} rows; bound {bound:.0f}"))
            history.append(rows)
            recent = self._recent.setdefault(key, deque(maxlen=DRIP_HOURS))
            recent.append(rows)
            window = sum(recent)
            drips = _history(self._drip, key, slot)
            drip_bound = _bound(drips, DRIP_RELATIVE)
            if not loud and drip_bound is not None and window > drip_bound:
                flags.append(
                    Flag(
                        "drip",
                        key,
                        hour,
                        f"{window} rows in {DRIP_HOURS} h; bound {drip_bound:.0f}",
                    )
                )
            drips.append(window)
        self.closed_through = hour
        return flags

    def _query_flags(self, key: Key, hour: datetime, seen: Observation) -> list[Flag]:
        allowed = self.reads(seen)
        if seen.sobject not in allowed:
            return [Flag("sensitive_object", key, hour, f"{seen.sobject} is read by no purpose")]
        known = self._fields_seen[key]
        new = set(seen.fields) - known - set(allowed[seen.sobject])
        known.update(seen.fields)
        if len(new) >= SWEEP_FIELDS:
            return [Flag("field_sweep", key, hour, f"{len(new)} fields never read before")]
        return []

    def snapshot(self) -> dict[str, Any]:
        """The history as JSON-ready data (the watcher keeps it between runs)."""

        def slots(store: dict[Key, dict[tuple[bool, int], deque[int]]]) -> dict[str, Any]:
            return {
                _key_text(key): {f"{int(w)}:{h}": list(v) for (w, h), v in per_slot.items()}
                for key, per_slot in store.items()
            }

        return {
            "closed_through": self.closed_through.isoformat() if self.closed_through else None,
            "rows": slots(self._rows),
            "drip": slots(self._drip),
            "recent": {_key_text(k): list(v) for k, v in self._recent.items()},
            "fields_seen": {_key_text(k): sorted(v) for k, v in self._fields_seen.items()},
        }

    @classmethod
    def restore(cls, reads: Callable[[Observation], Reads], data: Mapping[str, Any]) -> Detector:
        """A detector that goes on from a ``snapshot``: the same flags as one never stopped."""
        detector = cls(reads)
        closed = data.get("closed_through")
        detector.closed_through = datetime.fromisoformat(closed) if closed else None
        for name, store in (("rows", detector._rows), ("drip", detector._drip)):
            for key_text, per_slot in data.get(name, {}).items():
                key = _text_key(key_text)
                for slot_text, values in per_slot.items():
                    weekend, hour = slot_text.split(":")
                    _history(store, key, (weekend == "1", int(hour))).extend(values)
        for key_text, values in data.get("recent", {}).items():
            detector._recent[_text_key(key_text)] = deque(values, maxlen=DRIP_HOURS)
        for key_text, names in data.get("fields_seen", {}).items():
            detector._fields_seen[_text_key(key_text)] = set(names)
        return detector


def _key_text(key: Key) -> str:
    return json.dumps(key)


def _text_key(text: str) -> Key:
    org_id, principal, sobject = json.loads(text)
    return org_id, principal, sobject


def hour_of(at: datetime) -> datetime:
    """The start of the hour ``at`` falls in (UTC)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hours(start: datetime, end: datetime) -> Iterable[datetime]:
    at = start
    while at < end:
        yield at
        at += timedelta(hours=1)
