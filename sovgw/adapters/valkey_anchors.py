"""``AuditAnchors`` in Valkey: per stream, a counter and a sorted set scored by it.

One Lua script takes the next position and adds the anchor together, so positions are never
reused or skipped, whichever function instance writes. An administrator who can hide objects
in the audit bucket (``s3:DeleteObject``) cannot reach this store, which lives in the VPC.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis

from sovgw.adapters import store_keys as keys
from sovgw.domain.audit_chain import Anchor
from sovgw.domain.errors import UpstreamUnavailable

# KEYS: counter, anchors. ARGV: "<record id> <sha256>".
_APPEND = """
local position = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], position, position .. ' ' .. ARGV[1])
return position
"""


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as error:
        raise UpstreamUnavailable(f"audit anchors unavailable: {type(error).__name__}") from None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ValkeyAuditAnchors:
    """``AuditAnchors`` (see ``sovgw.ports``)."""

    def __init__(self, client: redis.Redis, prefix: str = keys.PREFIX) -> None:
        self._redis = client
        self._prefix = prefix
        self._append = client.register_script(_APPEND)

    def append(self, stream: str, record_id: str, sha256: str) -> int:
        jurisdiction = stream.split("/", 1)[0]
        with _store_errors():
            pipe = self._redis.pipeline(transaction=False)
            self._append(
                keys=list(keys.audit_anchors(stream, self._prefix)),
                args=[f"{record_id} {sha256}"],
                client=pipe,
            )
            pipe.sadd(keys.anchored_streams(jurisdiction, self._prefix), stream)
            position, _ = pipe.execute()
        return int(position)

    def streams(self, jurisdiction: str) -> set[str]:
        with _store_errors():
            members = self._redis.smembers(keys.anchored_streams(jurisdiction, self._prefix))
        return {_text(m) for m in members}

    def after(self, stream: str, position: int) -> list[Anchor]:
        _, anchors = keys.audit_anchors(stream, self._prefix)
        with _store_errors():
            members = self._redis.zrangebyscore(anchors, f"({position}", "+inf")
        found = []
        for member in members:
            at, record_id, sha256 = _text(member).split(" ")
            found.append(Anchor(int(at), record_id, sha256))
        return found

    def release(self, stream: str, through: int) -> None:
        _, anchors = keys.audit_anchors(stream, self._prefix)
        # On an outage they stay; the next seal starts past them anyway (anchored_through).
        with contextlib.suppress(redis.RedisError):
            self._redis.zremrangebyscore(anchors, "-inf", through)
