"""``RelayLedger`` in Valkey: per org, the events received from the relay (kept for the replay
window), the newest heartbeat, and the open gap."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import cast

import redis

from sovgw.adapters import store_keys as keys
from sovgw.domain.errors import UpstreamUnavailable
from sovgw.domain.relay_watch import LEDGER_TTL_HOURS, RelayReceipt

# KEYS: heartbeat. ARGV: send time (ms). Keep the newest: heartbeats may arrive out of order.
_NEWEST = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""
_TTL_MS = LEDGER_TTL_HOURS * 3600 * 1000


class ValkeyRelayLedger:
    def __init__(self, client: redis.Redis, prefix: str = keys.PREFIX) -> None:
        self._redis = client
        self._prefix = prefix
        self._newest = client.register_script(_NEWEST)

    def _key(self, org_id: str, name: str) -> str:
        return keys.relay_key(org_id, name, self._prefix)

    def received(self, org_id: str, receipt: RelayReceipt) -> None:
        key = self._key(org_id, "received")
        member = f"{receipt.event_uuid} {receipt.replay_id or '-'} {receipt.event_name}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(key, {member: receipt.published_ms})
        pipe.zremrangebyscore(key, "-inf", receipt.published_ms - _TTL_MS)
        pipe.pexpire(key, _TTL_MS)
        self._call(pipe.execute)

    def heartbeat(self, org_id: str, sent_ms: int) -> None:
        self._call(lambda: self._newest(keys=[self._key(org_id, "heartbeat")], args=[sent_ms]))

    def last_heartbeat(self, org_id: str) -> int | None:
        value = self._call(lambda: self._redis.get(self._key(org_id, "heartbeat")))
        return int(value) if value else None

    def watching_since(self, org_id: str, now_ms: int) -> int:
        key = self._key(org_id, "watching")
        previous = self._call(lambda: self._redis.set(key, now_ms, nx=True, get=True))
        return int(_text(previous)) if isinstance(previous, bytes | str) else now_ms

    def set_gap(self, org_id: str, open_since_ms: int | None) -> int | None:
        key = self._key(org_id, "gap")
        previous: object
        if open_since_ms is None:
            previous = self._call(lambda: self._redis.getdel(key))
        else:  # SET NX GET: an open gap keeps the start it opened with
            previous = self._call(lambda: self._redis.set(key, open_since_ms, nx=True, get=True))
        return int(_text(previous)) if isinstance(previous, bytes | str) and previous else None

    def received_since(self, org_id: str, since_ms: int) -> set[str]:
        members = self._call(
            lambda: self._redis.zrangebyscore(self._key(org_id, "received"), since_ms, "+inf")
        )
        return {_text(member).split(" ", 1)[0] for member in members}

    def checkpoint(self, org_id: str, event_name: str, before_ms: int) -> str | None:
        """Among the newest receipts of ``event_name`` before ``before_ms`` (CreatedDate has
        whole seconds, so several may share it) the highest replay id."""
        key, start, page = self._key(org_id, "received"), 0, 500
        best: tuple[float, int, str] | None = None
        while True:
            found = cast(
                "list[tuple[bytes, float]]",
                self._call(
                    partial(
                        self._redis.zrevrangebyscore,
                        key,
                        f"({before_ms}",
                        "-inf",
                        start=start,
                        num=page,
                        withscores=True,
                    )
                ),
            )
            for member, raw_score in found:
                score = float(raw_score)
                _, replay_id, name = _text(member).split(" ", 2)
                if name != event_name or replay_id == "-":
                    continue
                if best is not None and score < best[0]:
                    return best[2]
                rank = int(replay_id) if replay_id.isdigit() else -1
                if best is None or rank > best[1]:
                    best = (score, rank, replay_id)
            if len(found) < page:
                return best[2] if best else None
            start += page

    @staticmethod
    def _call[T](operation: Callable[[], T]) -> T:
        try:
            return operation()
        except redis.RedisError as error:
            raise UpstreamUnavailable(f"relay ledger: {type(error).__name__}") from None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
