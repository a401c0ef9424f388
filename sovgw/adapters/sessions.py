"""Salesforce sessions shared per scope: in one process (``LocalSessions``) or across every
process of a jurisdiction through the shared store (``ValkeySessions``).

Without sharing, each process logs in on its own and, when Salesforce expires a session, every
caller that sees ``INVALID_SESSION_ID`` logs in again: a stampede on the token endpoint that
counts towards the login rate limit. Here one caller refreshes (single flight: a lock in the
store, the others wait for its result), and the session is stored sealed with the
jurisdiction's KMS key, so a read of the store yields no usable token. Every session minted for
a scope is recorded, so a break-glass grant can revoke all of them when it ends.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from sovgw.adapters import store_keys as keys
from sovgw.adapters.valkey_lease import ValkeyLeases
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.ports import MappingVault

SESSION_TTL_MS = 24 * 3600 * 1000  # Salesforce's longest session timeout
LOCK_TTL_MS = 15_000  # longer than a token request may take (10 s timeout)
MINTED_KEPT = 1000


def fingerprint(token: str | None) -> str | None:
    """Compares tokens without storing or logging them."""
    return hashlib.sha256(token.encode()).hexdigest()[:32] if token else None


class SessionsEnded(RejectedInput):
    """The scope's sessions were ended (its grant is over): no new one is minted."""


@dataclass
class LocalSessions:
    """``SessionCache`` within one process (tools and tests without a shared store)."""

    _current: dict[str, Mapping[str, str]] = field(default_factory=dict)
    _minted: dict[str, list[Mapping[str, str]]] = field(default_factory=dict)
    _ended: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def session(
        self,
        scope: str,
        stale: str | None,
        mint: Callable[[], Mapping[str, str]],
        discard: Callable[[Mapping[str, str]], None],
    ) -> Mapping[str, str]:
        with self._lock:
            current = self._current.get(scope)
            if current is not None and current["access_token"] != stale:
                return current
            if scope in self._ended:
                raise SessionsEnded(f"the Salesforce sessions of {scope} were ended")
            fresh = mint()
            self._current[scope] = fresh
            self._minted.setdefault(scope, []).append(fresh)
            return fresh

    def minted(self, scope: str) -> list[Mapping[str, str]]:
        with self._lock:
            return list(self._minted.get(scope, ()))

    def end(self, scope: str) -> None:
        with self._lock:
            self._ended.add(scope)
            self._current.pop(scope, None)


class ValkeySessions:
    """``SessionCache`` across processes. Keys per scope (``sovgw:{org}:sf-session:<kind>``):
    the current session (fingerprint + sealed value), the refresh lock, the sealed sessions
    minted, and a marker once the scope has ended. Each process keeps the opened session in
    memory and reads the store only when it has none or Salesforce refused it."""

    def __init__(
        self,
        client: redis.Redis,
        vault: MappingVault,
        *,
        wait_s: float = 20.0,
        poll_s: float = 0.02,
    ) -> None:
        self._redis = client
        self._vault = vault
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._leases = ValkeyLeases(client)
        self._opened: dict[str, tuple[str, Mapping[str, str]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    @staticmethod
    def _key(scope: str, part: str = "") -> str:
        org, _, kind = scope.partition(":")
        return keys.session_key(org, kind, part)

    def _local_lock(self, scope: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(scope, threading.Lock())

    def _seal(self, scope: str, session: Mapping[str, str]) -> str:
        return self._vault.seal(dict(session), {"purpose": "salesforce-session", "scope": scope})

    def _open(self, scope: str, sealed: str) -> Mapping[str, str]:
        return self._vault.open(sealed, {"purpose": "salesforce-session", "scope": scope})

    def _stored(self, scope: str, stale_fp: str | None) -> Mapping[str, str] | None:
        """The stored session unless it is the stale one (opened once per process)."""
        found, sealed = self._redis.hmget(self._key(scope), ["fp", "sealed"])
        if not found or not sealed or str(found) == stale_fp:
            return None
        try:
            session = self._open(scope, str(sealed))
        except RejectedInput:
            return None  # its seal expired, or it was not ours: mint a fresh one
        self._opened[scope] = (str(found), session)
        return session

    def session(
        self,
        scope: str,
        stale: str | None,
        mint: Callable[[], Mapping[str, str]],
        discard: Callable[[Mapping[str, str]], None],
    ) -> Mapping[str, str]:
        stale_fp = fingerprint(stale)
        with self._local_lock(scope):  # one caller per process goes to the store
            opened = self._opened.get(scope)
            if opened is not None and opened[0] != stale_fp:
                return opened[1]
            with _store_errors():
                return self._refresh(scope, stale_fp, mint, discard)

    def _refresh(
        self,
        scope: str,
        stale_fp: str | None,
        mint: Callable[[], Mapping[str, str]],
        discard: Callable[[Mapping[str, str]], None],
    ) -> Mapping[str, str]:
        deadline = time.monotonic() + self._wait_s
        lock = self._key(scope, ":lock")
        while True:
            stored = self._stored(scope, stale_fp)
            if stored is not None:
                return stored
            if self._redis.exists(self._key(scope, ":ended")):
                raise SessionsEnded(f"the Salesforce sessions of {scope} were ended")
            with self._leases.hold(lock, LOCK_TTL_MS) as mine:
                if mine:
                    return self._stored(scope, stale_fp) or self._mint(scope, mint, discard)
            if time.monotonic() > deadline:
                raise UpstreamUnavailable(f"Salesforce session of {scope}: refresh timed out")
            time.sleep(self._poll_s)

    def _mint(
        self,
        scope: str,
        mint: Callable[[], Mapping[str, str]],
        discard: Callable[[Mapping[str, str]], None],
    ) -> Mapping[str, str]:
        if self._redis.exists(self._key(scope, ":ended")):
            raise SessionsEnded(f"the Salesforce sessions of {scope} were ended")
        session = mint()
        found = fingerprint(session["access_token"])
        assert found is not None
        minted = self._key(scope, ":minted")
        try:
            sealed = self._seal(scope, session)
            with self._redis.pipeline() as pipe:
                pipe.rpush(minted, sealed)
                pipe.ltrim(minted, -MINTED_KEPT, -1)
                pipe.pexpire(minted, 2 * SESSION_TTL_MS)
                pipe.hset(self._key(scope), mapping={"fp": found, "sealed": sealed})
                pipe.pexpire(self._key(scope), SESSION_TTL_MS)
                pipe.execute()
        except BaseException:
            discard(session)  # unrecorded, it could never be revoked with its grant
            raise
        self._opened[scope] = (found, session)
        return session

    def minted(self, scope: str) -> list[Mapping[str, str]]:
        found = []
        with _store_errors():
            listed = self._redis.lrange(self._key(scope, ":minted"), 0, -1)
        for sealed in listed:
            try:
                found.append(self._open(scope, str(sealed)))
            except RejectedInput:
                continue  # sealed longer ago than any session lives: expired by Salesforce
        return found

    def end(self, scope: str) -> None:
        """Waits for a refresh in flight, so every session minted is in ``minted`` after."""
        with _store_errors():
            self._end(scope)
        with self._local_lock(scope):
            self._opened.pop(scope, None)

    def _end(self, scope: str) -> None:
        deadline = time.monotonic() + self._wait_s
        while True:
            with self._leases.hold(self._key(scope, ":lock"), LOCK_TTL_MS) as mine:
                if mine:
                    with self._redis.pipeline() as pipe:
                        pipe.set(self._key(scope, ":ended"), 1, px=2 * SESSION_TTL_MS)
                        pipe.delete(self._key(scope))
                        pipe.execute()
                    break
            if time.monotonic() > deadline:
                raise UpstreamUnavailable(f"Salesforce session of {scope}: refresh in flight")
            time.sleep(self._poll_s)


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as error:
        raise UpstreamUnavailable(f"session store unavailable: {type(error).__name__}") from None
