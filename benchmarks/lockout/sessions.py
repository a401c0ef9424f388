"""Session stampede benchmark: how many token requests does one expired session cost?

Salesforce expires sessions (timeout, an admin's "expire all", a revoked app). Every caller that
holds the session then receives ``INVALID_SESSION_ID`` at once; if each logs in again, the token
endpoint sees a stampede that counts towards the org's login rate limit (``LOGIN_RATE_EXCEEDED``
blocks the integration user, emergencies included). Against the Salesforce simulator (real
HTTPS), ``--calls`` concurrent calls spread over ``--processes`` processes are warmed up, the
org's sessions are expired, and all calls go again at once. Three ways side by side, in one run:

- ``per_client``: each client logs in for itself (what the adapter did before sessions were
  shared);
- ``per_process``: one session per process, refreshed by one thread (``LocalSessions``);
- ``shared``: one session per jurisdiction in the shared store (redis-server, the Valkey
  protocol), sealed with a KMS key (LocalStack's), refreshed by exactly one caller anywhere
  (``ValkeySessions``).

Token requests, and the ``INVALID_SESSION_ID`` answers that caused them, are counted by the
simulator itself. JSON out; pass when ``shared`` costs exactly 1 token request.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.report import emit

MODES = ("per_client", "per_process", "shared")
REGION = "eu-central-1"
ORG = "00D5E0000000001UAA"
KEY_ALIAS = "alias/sovgw-bench-sessions"
BARRIER_S = 180.0  # start-up of 8 processes on 2 slow cores, with room


def _worker(mode: str, spec: dict[str, Any], calls: int, channels: tuple[Any, Any, Any]) -> None:
    """One process: ``calls`` clients, each with its own ``SalesforceRecords`` (as separate
    invocations would have), sharing what ``mode`` shares. ``channels``: the barrier before
    the expiry, the one after it, and the queue for results."""
    ready, go, results = channels
    import boto3  # noqa: PLC0415
    import redis  # noqa: PLC0415

    from sovgw.adapters.salesforce.oauth import SalesforceCredentials  # noqa: PLC0415
    from sovgw.adapters.salesforce.records import SalesforceRecords  # noqa: PLC0415
    from sovgw.adapters.sessions import LocalSessions, ValkeySessions  # noqa: PLC0415
    from sovgw.adapters.vault import KmsMappingVault  # noqa: PLC0415
    from sovgw.domain.errors import GatewayError  # noqa: PLC0415
    from sovgw.ports import SessionCache  # noqa: PLC0415

    credentials = SalesforceCredentials(
        token_url=spec["token_url"], client_id=spec["client_id"], client_secret=spec["secret"]
    )
    shared: SessionCache | None = None
    if mode == "per_process":
        shared = LocalSessions()
    elif mode == "shared":
        kms = boto3.session.Session(region_name=REGION).client("kms")
        shared = ValkeySessions(
            redis.Redis.from_url(spec["valkey_url"], decode_responses=True),
            KmsMappingVault(kms, KEY_ALIAS, ttl=timedelta(hours=24)),
        )
    clients = [
        SalesforceRecords(credentials, ca_bundle=spec["ca_bundle"], sessions=shared, org_id=ORG)
        for _ in range(calls)
    ]
    outcome: dict[str, Any] = {"ok": 0, "failed": [], "latency_s": []}
    lock = threading.Lock()
    start_together = threading.Barrier(calls)

    def call(client: SalesforceRecords) -> None:
        start_together.wait()
        begun = time.perf_counter()
        try:
            client.get_record("Case", spec["case"], ["Subject"])
        except GatewayError as error:
            with lock:
                outcome["failed"].append(f"{type(error).__name__}: {error}"[:200])
            return
        with lock:
            outcome["ok"] += 1
            outcome["latency_s"].append(time.perf_counter() - begun)

    def phase() -> dict[str, Any]:
        outcome.update(ok=0, failed=[], latency_s=[])
        threads = [threading.Thread(target=call, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return dict(outcome)

    warm = phase()  # every client holds a session now
    ready.wait(timeout=BARRIER_S)  # ... the sessions are expired by the simulator in between ...
    go.wait(timeout=BARRIER_S)
    results.put({"warm_up": warm, "after_expiry": phase()})


def _percentile_ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000, 1)


def _storm(mode: str, spec: dict[str, Any], sim: Any, processes: int, calls: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    ready, go = context.Barrier(processes + 1), context.Barrier(processes + 1)
    results = context.Queue()
    shares = [calls // processes + (1 if i < calls % processes else 0) for i in range(processes)]
    workers = [
        context.Process(target=_worker, args=(mode, spec, n, (ready, go, results)), daemon=True)
        for n in shares
    ]
    org = sim.org(ORG)
    for worker in workers:
        worker.start()
    try:
        ready.wait(timeout=BARRIER_S)
        sim.expire_sessions(org)
        with sim.lock:
            tokens_before, refused_before = len(sim.tokens), sim.refused_sessions
        go.wait(timeout=BARRIER_S)
        reports = [results.get(timeout=BARRIER_S) for _ in workers]
    except BaseException:
        for worker in workers:  # a failed or interrupted run leaves no process behind
            worker.kill()
        raise
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
                worker.join()
    with sim.lock:
        token_requests = len(sim.tokens) - tokens_before
        refused = sim.refused_sessions - refused_before
    after = [r["after_expiry"] for r in reports]
    latencies = [s for r in after for s in r["latency_s"]]
    return {
        "token_requests": token_requests,
        "invalid_session_answers": refused,
        "calls_ok": sum(r["ok"] for r in after),
        "calls_failed": [f for r in after for f in r["failed"]],
        "latency_ms": {"p50": _percentile_ms(latencies, 50), "p99": _percentile_ms(latencies, 99)},
        "warm_up_calls_ok": sum(r["warm_up"]["ok"] for r in reports),
    }


def run(*, processes: int = 8, calls: int = 100) -> dict[str, Any]:
    """The three modes against one simulator and one store; KMS at ``AWS_ENDPOINT_URL``."""
    import boto3  # noqa: PLC0415

    from sovgw.local.valkey import start_valkey  # noqa: PLC0415
    from sovgw.sfsim.http_api import SalesforceSimulatorServer  # noqa: PLC0415
    from sovgw.sfsim.state import ConnectedApp  # noqa: PLC0415

    kms = boto3.session.Session(region_name=REGION).client("kms")
    try:
        kms.describe_key(KeyId=KEY_ALIAS)
    except kms.exceptions.NotFoundException:
        key = kms.create_key(Description="sovgw session benchmark")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=KEY_ALIAS, TargetKeyId=key)
    state = Path(tempfile.mkdtemp(prefix="sovgw-sessions-"))
    server = SalesforceSimulatorServer(state_dir=state / "sfsim").start()
    valkey = start_valkey(state / "valkey")
    try:
        sim = server.sim
        org = sim.add_org(ORG, "Stampede GmbH", daily_api_limit=100_000)
        user = sim.add_user(org, "int@stampede.example", "int@stampede.example", "Integration")
        secret = "s" * 32
        sim.add_app(org, ConnectedApp("3MVG9stampede", secret, run_as_user_id=user))
        case = sim.insert(org, "Case", {"Subject": "Stampede", "Description": "sync"})
        spec = {
            "token_url": server.token_url,
            "client_id": "3MVG9stampede",
            "secret": secret,
            "ca_bundle": str(server.ca_bundle),
            "valkey_url": valkey.url,
            "case": case,
        }
        modes = {mode: _storm(mode, spec, sim, processes, calls) for mode in MODES}
    finally:
        valkey.stop()
        server.stop()
    shared = modes["shared"]
    checks = {
        "shared_one_token_request": shared["token_requests"] == 1,
        "every_call_saw_the_expiry": all(
            m["invalid_session_answers"] >= calls for m in modes.values()
        ),
        "every_call_succeeded": all(
            m["calls_ok"] == calls and not m["calls_failed"] for m in modes.values()
        ),
    }
    return {
        "benchmark": "session-stampede",
        "processes": processes,
        "concurrent_calls": calls,
        "cores": os.cpu_count(),
        "modes": modes,
        "token_requests_ratio_per_client_to_shared": round(
            modes["per_client"]["token_requests"] / max(1, shared["token_requests"]), 1
        ),
        "checks": checks,
        "passed": all(checks.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    localstack = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        from sovgw.local.localstack import start_localstack  # noqa: PLC0415

        root = Path(__file__).resolve().parents[2]
        localstack = start_localstack(
            root / ".localstack-venv", Path(tempfile.mkdtemp(prefix="sovgw-ls-")), 4566
        )
        os.environ.update(
            AWS_ENDPOINT_URL=localstack.url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test"
        )
    try:
        result = run(processes=args.processes, calls=args.calls)
    finally:
        if localstack is not None:
            localstack.stop()
    emit(result, args.out)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
