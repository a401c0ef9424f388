"""Break-glass grant records in Valkey: one JSON document per request, compare-and-set
transitions in Lua, an index per org, a cross-org due index for the sweeper, the hold that
unlocks the EMERGENCY lane and keeps the org's emergency credential from rotating while a grant
is active, and a lease so one worker drives a grant at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis

from sovgw.adapters import store_keys as keys
from sovgw.adapters.valkey_lease import ValkeyLeases
from sovgw.domain.break_glass import Grant
from sovgw.domain.errors import UpstreamUnavailable

# KEYS: record. ARGV: allowed statuses (JSON list), new status, fields (JSON object).
_TRANSITION = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
local ok = false
for _, status in ipairs(cjson.decode(ARGV[1])) do
  if record['status'] == status then ok = true end
end
if not ok then return 0 end
record['status'] = ARGV[2]
for key, value in pairs(cjson.decode(ARGV[3])) do record[key] = value end
redis.call('SET', KEYS[1], cjson.encode(record))
return 1
"""
# KEYS: record. ARGV: fields (JSON object).
_UPDATE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
for key, value in pairs(cjson.decode(ARGV[1])) do record[key] = value end
redis.call('SET', KEYS[1], cjson.encode(record))
return 1
"""


class ValkeyGrantStore:
    """``GrantStore`` (see ``sovgw.domain.break_glass``)."""

    def __init__(self, client: redis.Redis, prefix: str = "sovgw") -> None:
        self._redis = client
        self._prefix = prefix
        self._transition = client.register_script(_TRANSITION)
        self._update = client.register_script(_UPDATE)
        self._leases = ValkeyLeases(client)

    def _record(self, org_id: str, request_id: str) -> str:
        return keys.grant_record(org_id, request_id, self._prefix)

    def create(self, grant: Grant) -> bool:
        """Store a new request; False when one with this id exists (replays are no-ops)."""
        try:
            created = self._redis.set(
                self._record(grant.org_id, grant.request_id), grant.model_dump_json(), nx=True
            )
            if created:
                self._redis.zadd(
                    keys.grant_index(grant.org_id, self._prefix),
                    {grant.request_id: grant.requested_at},
                )
        except redis.RedisError as error:
            raise UpstreamUnavailable(f"grant store unavailable: {type(error).__name__}") from None
        return bool(created)

    def get(self, org_id: str, request_id: str) -> Grant | None:
        raw = self._redis.get(self._record(org_id, request_id))
        if raw is None:
            return None
        # Lua's cjson writes an empty array back as {}; no field of a grant is an object.
        fields = {k: [] if v == {} else v for k, v in json.loads(str(raw)).items()}
        return Grant.model_validate(fields)

    def transition(
        self, org_id: str, request_id: str, allowed: Sequence[str], to: str, **fields: Any
    ) -> bool:
        return bool(
            self._transition(
                keys=[self._record(org_id, request_id)],
                args=[json.dumps([str(s) for s in allowed]), str(to), json.dumps(fields)],
            )
        )

    def update(self, org_id: str, request_id: str, **fields: Any) -> None:
        self._update(keys=[self._record(org_id, request_id)], args=[json.dumps(fields)])

    def hold(self, org_id: str, request_id: str, until_ms: int) -> None:
        self._redis.zadd(keys.active_grants(org_id, self._prefix), {request_id: until_ms})

    def mark_due(self, org_id: str, request_id: str, at_ms: int) -> None:
        self._redis.zadd(keys.BREAK_GLASS_DUE, {f"{org_id[:15]}/{request_id}": at_ms})

    def release_hold(self, org_id: str, request_id: str) -> None:
        self._redis.zrem(keys.active_grants(org_id, self._prefix), request_id)

    def due(self, now_ms: int) -> list[tuple[str, str]]:
        members = self._redis.zrangebyscore(keys.BREAK_GLASS_DUE, "-inf", now_ms)
        return [tuple(str(m).split("/", 1)) for m in members]  # type: ignore[misc]

    def done(self, org_id: str, request_id: str) -> None:
        self._redis.zrem(keys.BREAK_GLASS_DUE, f"{org_id[:15]}/{request_id}")
        self.release_hold(org_id, request_id)

    def list(self, org_id: str) -> list[Grant]:
        ids = self._redis.zrange(keys.grant_index(org_id, self._prefix), 0, -1)
        return [r for r in (self.get(org_id, str(i)) for i in ids) if r is not None]

    @contextmanager
    def lease(self, org_id: str, request_id: str, ttl_ms: int) -> Iterator[bool]:
        try:
            with self._leases.hold(f"{self._record(org_id, request_id)}:lease", ttl_ms) as mine:
                yield mine
        except redis.RedisError as error:
            raise UpstreamUnavailable(f"grant store unavailable: {type(error).__name__}") from None
