"""``AnomalyStore`` in Valkey: the live feed of the query log, the detector's history and the
suspensions its flags set.

Each read the gateway makes is appended to its hour's list as it happens (one ``RPUSH``);
the watcher closes each hour once it has ended, then drops the list. The lists expire after
``KEEP_OPEN_HOURS_S`` so a watcher that never runs cannot fill the store (its stopping is
what the alarm's missing data reports). Suspensions are a hash per org, next to the budget's
keys, because the budget's admission script reads them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import redis

from sovgw.adapters import store_keys as keys
from sovgw.adapters.valkey_lease import ValkeyLeases
from sovgw.domain.anomaly import Observation, Suspension, hour_of

KEEP_OPEN_HOURS_S = 8 * 24 * 3600


def _epoch(hour: datetime) -> int:
    return int(hour.timestamp())


class ValkeyAnomalyStore:
    """``AnomalyStore`` on the jurisdiction's shared store."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._leases = ValkeyLeases(client)

    def observe(self, jurisdiction: str, seen: Observation) -> None:
        hour = _epoch(hour_of(seen.at))
        listed = keys.anomaly_key(jurisdiction, f"seen:{hour}")
        pipe = self._redis.pipeline(transaction=False)
        pipe.rpush(listed, json.dumps(seen.as_dict(), separators=(",", ":")))
        pipe.expire(listed, KEEP_OPEN_HOURS_S)
        pipe.zadd(keys.anomaly_key(jurisdiction, "hours"), {str(hour): hour})
        pipe.execute()

    def open_hours(self, jurisdiction: str) -> list[datetime]:
        listed = self._redis.zrange(keys.anomaly_key(jurisdiction, "hours"), 0, -1)
        return [datetime.fromtimestamp(int(str(hour)), UTC) for hour in listed]

    def observations(self, jurisdiction: str, hour: datetime) -> list[Observation]:
        listed = keys.anomaly_key(jurisdiction, f"seen:{_epoch(hour)}")
        return [
            Observation.from_dict(json.loads(item)) for item in self._redis.lrange(listed, 0, -1)
        ]

    def forget_hour(self, jurisdiction: str, hour: datetime) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.delete(keys.anomaly_key(jurisdiction, f"seen:{_epoch(hour)}"))
        pipe.zrem(keys.anomaly_key(jurisdiction, "hours"), str(_epoch(hour)))
        pipe.execute()

    def load_detector(self, jurisdiction: str) -> dict[str, Any] | None:
        raw = self._redis.get(keys.anomaly_key(jurisdiction, "detector"))
        return json.loads(raw) if raw else None

    def save_detector(self, jurisdiction: str, snapshot: Mapping[str, Any]) -> None:
        self._redis.set(
            keys.anomaly_key(jurisdiction, "detector"), json.dumps(snapshot, separators=(",", ":"))
        )

    def watching(self, jurisdiction: str, ttl_s: int) -> AbstractContextManager[bool]:
        return self._leases.hold(keys.anomaly_key(jurisdiction, "watching"), ttl_s * 1000)

    def suspend(self, suspension: Suspension) -> bool:
        return bool(
            self._redis.hsetnx(
                keys.suspended(suspension.org_id),
                suspension.principal,
                json.dumps(suspension.as_dict()),
            )
        )

    def suspensions(self, org_id: str) -> dict[str, Suspension]:
        held = self._redis.hgetall(keys.suspended(org_id))
        return {str(who): Suspension.from_dict(json.loads(raw)) for who, raw in held.items()}

    def lift(self, org_id: str, principal: str) -> Suspension | None:
        key = keys.suspended(org_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hget(key, principal)
        pipe.hdel(key, principal)
        raw, _ = pipe.execute()
        return Suspension.from_dict(json.loads(raw)) if raw else None
