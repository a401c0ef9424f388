"""A lease in Valkey: one holder at a time for a key, released only by its holder, and ended by
its time to live if the holder dies. Break-glass grants and shared sessions both use it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import redis

# KEYS: lease. ARGV: holder.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ValkeyLeases:
    """Leases over one client (the release script is registered once)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._release = client.register_script(_RELEASE)

    @contextmanager
    def hold(self, key: str, ttl_ms: int) -> Iterator[bool]:
        """True inside when this caller took the lease (it never waits); released on leaving."""
        holder = secrets.token_hex(8)
        mine = bool(self._redis.set(key, holder, nx=True, px=ttl_ms))
        try:
            yield mine
        finally:
            if mine:
                self._release(keys=[key], args=[holder])
