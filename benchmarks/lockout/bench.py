"""Chaos benchmark: can a storm of routine work lock an emergency workflow out of Salesforce?

Against the Salesforce simulator (real HTTPS, a small daily API limit) and a real shared store
(redis-server, the Valkey protocol): concurrent workers drain a queue of routine requests,
emergency requests are injected throughout, one integration credential is revoked mid-run and
another is rotated during the storm. Deferred routine work goes back to its queue (as SQS does
in production). Reported as JSON, with pass/fail per invariant:

- lockouts = 0 (no simulator user locked);
- emergency success = 100 %, with p50/p99 latency;
- non-emergency calls <= limit - reserve (Salesforce's own count);
- failed calls caused by the rotation = 0;
- routine requests lost = 0 (each is done or still queued).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.report import emit
from sovgw.adapters.salesforce import oauth as adapter
from sovgw.adapters.salesforce.credentials import CredentialPool, PooledCredential
from sovgw.adapters.salesforce.oauth import CredentialRefused, SalesforceCredentials
from sovgw.adapters.salesforce.records import OrgBudget, SalesforceRecords
from sovgw.adapters.sessions import LocalSessions
from sovgw.adapters.valkey_budget import ValkeyBudgetStore
from sovgw.domain.budget import BudgetDeferred, BudgetPolicy, Lane
from sovgw.domain.errors import GatewayError
from sovgw.local.valkey import start_valkey
from sovgw.sfsim.http_api import SalesforceSimulatorServer
from sovgw.sfsim.state import ConnectedApp

ORG = "00D5E0000000001UAA"
REAL_REQUEST_TOKEN = adapter.request_token
DRILL_GRANT = "storm-drill"


@dataclass
class Vault:
    """The credentials as Secrets Manager would hold them: a version per rotation."""

    token_url: str
    versions: dict[str, tuple[int, str, str, bool]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, name: str, client_id: str, secret: str, emergency: bool = False) -> None:
        with self.lock:
            version = self.versions.get(name, (0, "", "", False))[0] + 1
            self.versions[name] = (version, client_id, secret, emergency)

    def load(self) -> list[PooledCredential]:
        with self.lock:
            return [
                PooledCredential(
                    f"{name}@v{version}",
                    SalesforceCredentials(
                        token_url=self.token_url, client_id=client_id, client_secret=secret
                    ),
                    emergency,
                )
                for name, (version, client_id, secret, emergency) in sorted(self.versions.items())
            ]


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    emergency_latency_s: list[float] = field(default_factory=list)

    def add(self, outcome: str, error: str | None = None) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            if error:
                self.errors[error[:120]] += 1


@dataclass
class Storm:
    """One run: the simulator org, its credentials, the shared store and what happened."""

    server: SalesforceSimulatorServer
    store: ValkeyBudgetStore
    routine: int
    emergencies: int
    duration_s: float
    vault: Vault = field(init=False)
    apps: dict[str, ConnectedApp] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)
    queue: deque[int] = field(default_factory=deque)
    done: set[int] = field(default_factory=set)
    token_requests: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    revoked_app: str = ""

    def __post_init__(self) -> None:
        sim = self.server.sim
        self.org = sim.orgs[ORG[:15]]
        user = next(iter(self.org.users))
        self.case = sim.insert(self.org, "Case", {"Subject": "Storm", "Description": "sync"})
        self.vault = Vault(self.server.token_url)
        for name, emergency in (
            ("integration-a", False),
            ("integration-b", False),
            ("emergency", True),
        ):
            app = ConnectedApp(f"3MVG9{name}", secrets.token_urlsafe(24), run_as_user_id=user)
            sim.add_app(self.org, app)
            self.apps[name] = app
            self.vault.put(name, app.client_id, app.client_secret, emergency)
        self.pool = CredentialPool(self.vault.load, ttl_s=0.5)  # rotations show up fast
        # One process here: its clients share sessions per scope as a deployment's do through
        # the shared store (benchmarks/lockout/sessions.py measures that across processes).
        self.sessions = LocalSessions()
        # The emergencies run under one break-glass grant that lasts the storm.
        self.store.hold_grant(ORG, DRILL_GRANT, int(time.time() * 1000) + 3_600_000)
        self.queue.extend(range(self.routine))

    def records(self, lane: Lane) -> SalesforceRecords:
        return SalesforceRecords(
            self.pool,
            budget=OrgBudget(self.store, ORG),
            lane=lane,
            grant_id=DRILL_GRANT if lane is Lane.EMERGENCY else None,
            ca_bundle=str(self.server.ca_bundle),
            sessions=self.sessions,
        )

    def request_token(self, credentials: SalesforceCredentials, *args: Any) -> Any:
        """Counts every token request, and the refused ones, per connected app."""
        self.token_requests[credentials.client_id] += 1
        try:
            return REAL_REQUEST_TOKEN(credentials, *args)
        except CredentialRefused:
            self.refusals[credentials.client_id] += 1
            raise

    def routine_worker(self) -> None:
        client = self.records(Lane.ROUTINE)
        while not self.stop.is_set():
            with self.lock:
                item = self.queue.popleft() if self.queue else None
            if item is None:
                return
            try:
                client.get_record("Case", self.case, ["Subject"])
            except BudgetDeferred:
                self.tally.add("routine_deferred")
                with self.lock:
                    self.queue.append(item)  # back to its queue, as SQS redelivers
                time.sleep(0.005)
                continue
            except GatewayError as error:
                self.tally.add("routine_failed", f"{type(error).__name__}: {error}")
                with self.lock:
                    self.queue.append(item)
                continue
            self.tally.add("routine_done")
            with self.lock:
                self.done.add(item)

    def emergency_injector(self) -> None:
        interval = self.duration_s / (self.emergencies + 1)
        for _ in range(self.emergencies):
            time.sleep(interval)
            begun = time.perf_counter()
            try:
                self.records(Lane.EMERGENCY).get_record(
                    "Case", self.case, ["Subject", "Description"]
                )
            except GatewayError as error:
                self.tally.add("emergency_failed", f"{type(error).__name__}: {error}")
                continue
            with self.tally.lock:
                self.tally.emergency_latency_s.append(time.perf_counter() - begun)
            self.tally.add("emergency_done")

    def chaos(self) -> None:
        sim = self.server.sim
        time.sleep(self.duration_s * 0.05)
        # An admin revokes the integration credential whose session the workers share (the
        # worst case): new secret, its sessions gone, so every worker must log in again.
        emergency = self.apps["emergency"].client_id
        with sim.lock:
            live = [
                t.client_id
                for t in sim.tokens.values()
                if t.kind == "access" and not t.revoked and t.client_id != emergency
            ]
        self.revoked_app = live[-1] if live else self.apps["integration-b"].client_id
        revoked = next(a for a in self.apps.values() if a.client_id == self.revoked_app)
        with sim.lock:
            revoked.client_secret = secrets.token_urlsafe(24)
            for token in sim.tokens.values():
                if token.client_id == revoked.client_id:
                    token.revoked = True
        time.sleep(self.duration_s * 0.1)
        # The other one rotates as the rotation function does it: retire the current version
        # in the shared store, set the new secret in Salesforce, then publish it.
        name = next(
            n for n, a in self.apps.items() if n.startswith("integration") and a is not revoked
        )
        rotated = self.apps[name]
        current = next(c for c in self.vault.load() if c.credential_id.startswith(name))
        self.store.refuse_credential(ORG, current.credential_id)
        rotated.client_secret = secrets.token_urlsafe(24)
        self.vault.put(name, rotated.client_id, rotated.client_secret)

    def report(self, elapsed: float) -> dict[str, Any]:
        sim, tally, policy = self.server.sim, self.tally, self.store.policy
        used, limit = sim.api_usage(self.org)
        emergency_calls = tally.outcomes["emergency_done"] + tally.outcomes["emergency_failed"]
        ceiling = policy.ceiling(Lane.INTERACTIVE, limit)
        latencies = sorted(tally.emergency_latency_s)
        lost = self.routine - len(self.done) - len(self.queue)
        rotation_failures = sum(
            n for e, n in tally.errors.items() if "credential" in e or "session" in e.lower()
        )
        locked = [uid for uid in self.org.users if sim.is_locked(self.org, uid)]
        checks = {
            "lockouts_zero": not locked,
            "emergency_success_100pct": tally.outcomes["emergency_failed"] == 0
            and tally.outcomes["emergency_done"] == self.emergencies,
            "non_emergency_within_limit_minus_reserve": used - emergency_calls <= ceiling,
            "rotation_failures_zero": rotation_failures == 0,
            "routine_lost_zero": lost == 0,
        }
        return {
            "benchmark": "lockout-chaos",
            "duration_s": round(elapsed, 2),
            "daily_api_limit": limit,
            "reserve_fraction": policy.reserve_fraction,
            "routine_requests": self.routine,
            "routine_attempts": sum(
                tally.outcomes[k] for k in ("routine_done", "routine_deferred", "routine_failed")
            ),
            "routine_done": len(self.done),
            "routine_still_queued": len(self.queue),
            "routine_lost": lost,
            "routine_deferred_attempts": tally.outcomes["routine_deferred"],
            "routine_failed_attempts": tally.outcomes["routine_failed"],
            "emergency_requests": self.emergencies,
            "emergency_done": tally.outcomes["emergency_done"],
            "emergency_latency_ms": {
                "p50": _percentile_ms(latencies, 50),
                "p99": _percentile_ms(latencies, 99),
            },
            "salesforce_calls": used,
            "non_emergency_calls": used - emergency_calls,
            "non_emergency_ceiling": ceiling,
            "locked_users": len(locked),
            "revoked_app": self.revoked_app,
            "token_requests_by_app": dict(self.token_requests),
            "refused_token_requests_by_app": dict(self.refusals),
            "refused_credentials": sorted(self.store.refused_credentials(ORG)),
            "errors": dict(tally.errors),
            "checks": checks,
            "passed": all(checks.values()),
        }


def _percentile_ms(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000, 2)


def run(
    *, routine: int, workers: int, daily_limit: int, emergencies: int, duration_s: float
) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="sovgw-lockout-"))
    server = SalesforceSimulatorServer(state_dir=state / "sfsim").start()
    valkey = start_valkey(state / "valkey")
    try:
        org = server.sim.add_org(ORG, "Storm GmbH", daily_api_limit=daily_limit)
        server.sim.add_user(org, "int@storm.example", "int@storm.example", "Integration")
        policy = BudgetPolicy(max_concurrent=12, reserved_concurrent=3)
        storm = Storm(
            server, ValkeyBudgetStore(valkey.client(), policy), routine, emergencies, duration_s
        )
        adapter.request_token = storm.request_token  # type: ignore[assignment]
        threads = [threading.Thread(target=storm.routine_worker) for _ in range(workers)]
        threads += [
            threading.Thread(target=storm.emergency_injector),
            threading.Thread(target=storm.chaos),
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(duration_s)
        storm.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        report = storm.report(time.monotonic() - started)
        report["workers"] = workers
        return report
    finally:
        adapter.request_token = REAL_REQUEST_TOKEN
        valkey.stop()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--routine", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--daily-limit", type=int, default=2_000)
    parser.add_argument("--emergencies", type=int, default=100)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of storm")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    result = run(
        routine=args.routine,
        workers=args.workers,
        daily_limit=args.daily_limit,
        emergencies=args.emergencies,
        duration_s=args.duration,
    )
    emit(result, args.out)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
