"""The shared Salesforce budget in Valkey (ElastiCache Serverless for Valkey in AWS; Debian's
redis-server locally): one atomic Lua script per decision, so every function instance of
every jurisdiction sees the same counts.

Keys, per org: ``usage`` (hash: used, limit), ``slots`` (sorted set of in-flight calls, scored
by expiry, so a crashed caller's slot frees itself), ``breaker`` (hash: open_until, cooldown,
probe) and ``refused`` (hash: credential id → when it was refused).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from sovgw.adapters import store_keys as keys
from sovgw.adapters.valkey_anomaly import ValkeyAnomalyStore
from sovgw.domain.anomaly import Suspension, suspendable
from sovgw.domain.budget import Admission, BudgetPolicy, Lane
from sovgw.domain.errors import UpstreamUnavailable

DEFAULT_DAILY_LIMIT = 15_000

# KEYS: usage, slots, breaker, grants, suspended. ARGV: lane, now_ms, ceiling (millionths of the
# limit), concurrency cap, slot ttl ms, slot id, default limit, grant id, grace after a grant's
# end ms (its expiry steps still use the lane), '1' when the lane is unlocked by a grant instead
# of closed by the breaker and a suspension, the calling principal. The rules (shares, caps,
# which lane a grant unlocks) are the domain's BudgetPolicy; this script only applies them
# atomically.
_ADMIT = """
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
local limit = tonumber(redis.call('HGET', KEYS[1], 'limit') or ARGV[7])
local lane, now = ARGV[1], tonumber(ARGV[2])
local open_until = 0
if ARGV[10] == '1' then
  local grant = ARGV[8]
  local until_ms = grant ~= '' and redis.call('ZSCORE', KEYS[4], grant)
  if not until_ms then
    return {0, 'the EMERGENCY lane needs an active break-glass grant', used, limit}
  end
  if tonumber(until_ms) + tonumber(ARGV[9]) < now then
    return {0, 'the break-glass grant has ended', used, limit}
  end
else
  local suspension = ARGV[11] ~= '' and redis.call('HGET', KEYS[5], ARGV[11])
  if suspension then
    return {0, 'suspended:' .. suspension, used, limit}
  end
  open_until = tonumber(redis.call('HGET', KEYS[3], 'open_until') or '0')
  if open_until > now then
    return {0, 'breaker open: Salesforce refused with REQUEST_LIMIT_EXCEEDED', used, limit}
  end
end
local ceiling = math.floor(limit * tonumber(ARGV[3]) / 1000000)
if used + 1 > ceiling then
  return {0, lane .. ' share of the daily API limit is spent', used, limit}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return {0, lane .. ' concurrent request slots are in use', used, limit}
end
if open_until > 0 and redis.call('HSETNX', KEYS[3], 'probe', now) == 0 then
  if now - tonumber(redis.call('HGET', KEYS[3], 'probe')) < 30000 then
    return {0, 'breaker half-open: a probe is in flight', used, limit}
  end
  redis.call('HSET', KEYS[3], 'probe', now)
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[6])
redis.call('HINCRBY', KEYS[1], 'used', 1)
return {1, 'ok', used + 1, limit}
"""

# Salesforce's count is authoritative (other integrations use the same org, and its 24-hour
# window rolls): take it, plus the calls still in flight that it cannot include yet (the
# answering call's own slot is still held). KEYS: usage, slots. ARGV: used, limit, now_ms.
_OBSERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]))
local in_flight = redis.call('ZCARD', KEYS[2])
redis.call('HSET', KEYS[1], 'used', tonumber(ARGV[1]) + math.max(in_flight - 1, 0))
redis.call('HSET', KEYS[1], 'limit', ARGV[2])
return 1
"""

# KEYS: breaker. ARGV: now_ms, base cooldown ms, max cooldown ms.
_TRIP = """
local previous = tonumber(redis.call('HGET', KEYS[1], 'cooldown') or '0')
local cooldown = tonumber(ARGV[2])
if previous > 0 then cooldown = math.min(previous * 2, tonumber(ARGV[3])) end
redis.call('HSET', KEYS[1], 'open_until', tonumber(ARGV[1]) + cooldown, 'cooldown', cooldown)
redis.call('HDEL', KEYS[1], 'probe')
return cooldown
"""


class ValkeyBudgetStore:
    """``BudgetStore``: admission, usage, breakers and refused credentials, shared."""

    def __init__(
        self,
        client: redis.Redis,
        policy: BudgetPolicy | None = None,
        *,
        prefix: str = "sovgw",
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._redis = client
        self.policy = policy or BudgetPolicy()
        self._prefix = prefix
        self._now = clock_ms
        self._admit = client.register_script(_ADMIT)
        self._observe = client.register_script(_OBSERVE)
        self._trip = client.register_script(_TRIP)

    @property
    def client(self) -> redis.Redis:
        return self._redis

    def _key(self, org_id: str, name: str) -> str:
        return keys.org_key(org_id, name, self._prefix)

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except redis.RedisError as error:
            raise UpstreamUnavailable(f"budget store unavailable: {type(error).__name__}") from None

    def admit(
        self, org_id: str, lane: Lane, grant_id: str | None = None, principal: str = ""
    ) -> Admission:
        """Take one call and one slot for ``lane``, or say why not (atomically). The
        EMERGENCY lane is unlocked only by an active break-glass grant of the org; the others
        are closed to a principal an anomaly suspended."""
        slot = uuid.uuid4().hex
        fraction = self.policy.ceiling(lane, 1_000_000)
        allowed, reason, used, limit = self._run(
            self._admit,
            [self._key(org_id, k) for k in ("usage", "slots", "breaker")]
            + [keys.active_grants(org_id, self._prefix), keys.suspended(org_id, self._prefix)],
            [
                lane.value,
                self._now(),
                fraction,
                self.policy.concurrency_cap(lane),
                int(self.policy.slot_ttl_s * 1000),
                slot,
                DEFAULT_DAILY_LIMIT,
                grant_id or "",
                int(self.policy.grant_grace_s * 1000),
                "1" if self.policy.unlocked_by_grant(lane) else "0",
                principal if suspendable(principal) else "",
            ],
        )
        reason = str(reason)
        if reason.startswith("suspended:"):
            reason = Suspension.from_dict(json.loads(reason.removeprefix("suspended:"))).reason
        return Admission(
            bool(allowed),
            reason,
            lane,
            int(used),
            int(limit),
            slot if allowed else None,
        )

    def release(self, org_id: str, admission: Admission, *, succeeded: bool = True) -> None:
        """Free the call's slot; a successful call also closes a half-open breaker."""
        if admission.slot is None:
            return
        try:
            pipe = self._redis.pipeline()
            pipe.zrem(self._key(org_id, "slots"), admission.slot)
            if succeeded and not self.policy.unlocked_by_grant(admission.lane):
                breaker = self._key(org_id, "breaker")
                # only a probe that went through proves the limit is back
                pipe.eval(
                    "if redis.call('HEXISTS', KEYS[1], 'probe') == 1 then "
                    "return redis.call('DEL', KEYS[1]) end return 0",
                    1,
                    breaker,
                )
            pipe.execute()
        except redis.RedisError:
            pass  # the slot expires by itself

    def knows(self, org_id: str) -> bool:
        """Whether Salesforce's count for the org was ever observed (else: read ``/limits``)."""
        try:
            return bool(self._redis.hexists(self._key(org_id, "usage"), "limit"))
        except redis.RedisError:
            return True  # admission will report the outage itself

    def observe(self, org_id: str, used: int, limit: int) -> None:
        """Salesforce's own count (``Sforce-Limit-Info``/``/limits``)."""
        self._run(
            self._observe,
            [self._key(org_id, "usage"), self._key(org_id, "slots")],
            [used, limit, self._now()],
        )

    def trip_breaker(self, org_id: str) -> float:
        """Salesforce said REQUEST_LIMIT_EXCEEDED: close the org to non-emergency lanes."""
        cooldown_ms = self._run(
            self._trip,
            [self._key(org_id, "breaker")],
            [
                self._now(),
                int(self.policy.breaker_cooldown_s * 1000),
                int(self.policy.breaker_max_cooldown_s * 1000),
            ],
        )
        return float(cooldown_ms) / 1000

    def refuse_credential(self, org_id: str, credential_id: str) -> None:
        """Never present this credential again (shared: no other instance retries it)."""
        self._redis.hsetnx(self._key(org_id, "refused"), credential_id, self._now())

    def refused_credentials(self, org_id: str) -> set[str]:
        try:
            return {str(k) for k in self._redis.hkeys(self._key(org_id, "refused"))}
        except redis.RedisError:
            return set()

    def hold_grant(self, org_id: str, grant_id: str, until_ms: int) -> None:
        """A break-glass grant is active until ``until_ms`` (it expires by itself)."""
        self._redis.zadd(keys.active_grants(org_id, self._prefix), {grant_id: until_ms})

    def end_grant(self, org_id: str, grant_id: str) -> None:
        self._redis.zrem(keys.active_grants(org_id, self._prefix), grant_id)

    def active_grants(self, org_id: str) -> int:
        """Break-glass grants of the org that have not expired (issue #6 records them)."""
        key = keys.active_grants(org_id, self._prefix)
        self._redis.zremrangebyscore(key, "-inf", self._now())
        return int(self._redis.zcard(key))

    def health(self, org_id: str) -> dict[str, Any]:
        """What an operator (``sovgw health``) and the metrics need to know."""
        usage = self._redis.hgetall(self._key(org_id, "usage"))
        breaker = self._redis.hgetall(self._key(org_id, "breaker"))
        now = self._now()
        self._redis.zremrangebyscore(self._key(org_id, "slots"), "-inf", now)
        used = int(usage.get("used", 0))
        limit = int(usage.get("limit", DEFAULT_DAILY_LIMIT))
        open_until = int(breaker.get("open_until", 0))
        suspended = ValkeyAnomalyStore(self._redis).suspensions(org_id)
        return {
            "org_id": org_id,
            "used": used,
            "limit": limit,
            "used_fraction": round(used / limit, 4) if limit else 1.0,
            "ceilings": {lane.value: self.policy.ceiling(lane, limit) for lane in Lane},
            "emergency_reserve_left": max(
                0, limit - max(used, self.policy.ceiling(Lane.INTERACTIVE, limit))
            ),
            "in_flight": int(self._redis.zcard(self._key(org_id, "slots"))),
            "breaker": "open" if open_until > now else ("half_open" if open_until else "closed"),
            "refused_credentials": sorted(self.refused_credentials(org_id)),
            "suspended": {principal: s.reason for principal, s in suspended.items()},
            "alert": used >= self.policy.alert_fraction * limit,
        }


@dataclass
class StoreRetirement:
    """``CredentialRetirement`` for one org in the shared budget store (no store: nothing
    shared to tell, no grant can be active)."""

    store: ValkeyBudgetStore | None
    org_id: str

    def retire(self, credential_id: str) -> None:
        if self.store is not None:
            self.store.refuse_credential(self.org_id, credential_id)

    def break_glass_active(self) -> bool:
        return self.store is not None and self.store.active_grants(self.org_id) > 0


class ElastiCacheIamAuth(redis.CredentialProvider):
    """IAM authentication for ElastiCache (Valkey): the password is a SigV4-presigned
    ``connect`` request for the user, valid 15 minutes; re-signed after ``refresh_s``."""

    def __init__(
        self,
        user_id: str,
        cache_name: str,
        region: str,
        *,
        serverless: bool = True,
        session: Any = None,
        refresh_s: float = 600.0,
    ) -> None:
        import botocore.session  # noqa: PLC0415

        self._user_id = user_id
        self._cache_name = cache_name
        self._region = region
        self._serverless = serverless
        self._session = session or botocore.session.get_session()
        self._refresh_s = refresh_s
        self._cached: tuple[float, str] | None = None

    def _sign(self) -> str:
        from urllib.parse import urlencode  # noqa: PLC0415

        from botocore.model import ServiceId  # noqa: PLC0415
        from botocore.signers import RequestSigner  # noqa: PLC0415

        query = {"Action": "connect", "User": self._user_id}
        if self._serverless:
            query["ResourceType"] = "ServerlessCache"
        signer = RequestSigner(
            ServiceId("elasticache"),
            self._region,
            "elasticache",
            "v4",
            self._session.get_credentials(),
            self._session.get_component("event_emitter"),
        )
        signed: str = signer.generate_presigned_url(
            {
                "method": "GET",
                "url": f"https://{self._cache_name}/?{urlencode(query)}",
                "body": {},
                "headers": {},
                "context": {},
            },
            operation_name="connect",
            expires_in=900,
            region_name=self._region,
        )
        return signed.removeprefix("https://")

    def get_credentials(self) -> tuple[str, str]:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self._refresh_s:
            self._cached = (now, self._sign())
        return self._user_id, self._cached[1]


def connect_store(
    url: str, *, iam_user: str | None = None, cache_name: str | None = None, region: str = ""
) -> redis.Redis:
    """A client for the budget store: IAM-authenticated in AWS, plain on loopback."""
    if iam_user and cache_name:
        return redis.Redis.from_url(
            url,
            decode_responses=True,
            credential_provider=ElastiCacheIamAuth(iam_user, cache_name, region),
        )
    return redis.Redis.from_url(url, decode_responses=True)
