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

Nothing here reads a store: the caller feeds hours of observations and keeps the history.
"""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

K = 6.0
RELATIVE = 3.0
MIN_ROWS = 200
SWEEP_FIELDS = 8
HISTORY_WEEKS = 4
DRIP_HOURS = 6
DRIP_RELATIVE = 2.0  # six hours at twice their usual volume is no longer noise

Key = tuple[str, str, str]  # org, principal, object


@dataclass(frozen=True)
class Observation:
    """One query-log entry, as far as detection needs it (no values)."""

    at: datetime
    org_id: str
    principal: str
    sobject: str
    fields: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class Flag:
    kind: str
    key: Key
    hour: datetime  # the start of the hour the flag is about
    detail: str


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

    allowed: Mapping[str, Mapping[str, tuple[str, ...]]]  # principal → object → fields
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
        return flags

    def _query_flags(self, key: Key, hour: datetime, seen: Observation) -> list[Flag]:
        allowed = self.allowed.get(seen.principal, {})
        if seen.sobject not in allowed:
            return [Flag("sensitive_object", key, hour, f"{seen.sobject} is read by no purpose")]
        known = self._fields_seen[key]
        new = set(seen.fields) - known - set(allowed[seen.sobject])
        known.update(seen.fields)
        if len(new) >= SWEEP_FIELDS:
            return [Flag("field_sweep", key, hour, f"{len(new)} fields never read before")]
        return []


def hours(start: datetime, end: datetime) -> Iterable[datetime]:
    at = start
    while at < end:
        yield at
        at += timedelta(hours=1)
