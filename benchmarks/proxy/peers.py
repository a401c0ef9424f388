"""The proxy side by side with a peer, LiteLLM's proxy, in one run: the same upstream (its
answer echoes the 2 KB prompt of case notes, so output scanning and restore run as in use),
the same client, phases alternating direct / sovgw / LiteLLM twice per level.

Measured per target and level (1 and 8 clients): latency of non-streamed requests, time to
the first byte of streamed ones, and the proxy process's CPU time per request (user + system
of the process and its children, read from /proc around each phase). sovgw runs with its
whole pipeline (DLP scan of request and answer, pseudonymisation, restore, file audit);
LiteLLM with its defaults and no guardrail, one uvicorn worker each. Output is JSON.

LiteLLM lives in its own virtual environment (``make bench-proxy-peers`` builds
``.litellm-venv``): its dependencies stay out of the project's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import requests

from benchmarks.proxy.bench import (
    API_KEY,
    PROMPT,
    SCRATCH_ON,
    Target,
    _concurrently,
    _plain,
    _start,
    _start_proxy,
    _streamed,
    _summary,
    scratch,
)
from benchmarks.report import emit
from sovgw.httpd import free_port

LITELLM_VERSION = "1.108.7"
LITELLM_KEY = "sk-litellm-bench-" + "m" * 24
TARGETS = {"cpu_ms_per_request": 2.5, "cpu_ratio_to_litellm": 0.1, "added_p99_ms_1_client": 5.0}
CLK_TCK = os.sysconf("SC_CLK_TCK")
WARM_UP_REQUESTS = 300


def _tasks(pid: int) -> Iterator[Path]:
    """The /proc folders of a process's threads and of its live descendants' threads."""
    pending = [pid]
    while pending:
        try:
            for task in list(Path(f"/proc/{pending.pop()}/task").iterdir()):
                yield task
                pending += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, its threads and its live descendants."""
    total = 0.0
    for task in _tasks(pid):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def context_switches(pid: int) -> int:
    """Context switches (voluntary and not) of a process's threads and live descendants: a
    thread handing the GIL to another shows here before it shows in CPU time."""
    total = 0
    for task in _tasks(pid):
        try:
            lines = (task / "status").read_text().splitlines()
        except FileNotFoundError:
            continue
        total += sum(int(line.split()[1]) for line in lines if "ctxt_switches" in line)
    return total


@dataclass
class Contender:
    name: str
    target: Target
    pid: int | None  # the process whose CPU is counted (None: the upstream itself, direct)


def _start_litellm(
    litellm: Path, upstream_url: str, work: Path
) -> tuple[subprocess.Popen[bytes], str]:
    config = work / "litellm.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "bench",
                        "litellm_params": {
                            "model": "openai/bench-llm",
                            "api_base": f"{upstream_url}/v1",
                            "api_key": "upstream-bench-key",
                        },
                    }
                ]
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [str(litellm), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=(work / "litellm.log").open("wb"),
        env={
            **os.environ,
            "LITELLM_MASTER_KEY": LITELLM_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download of the cost map at start
        },
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"LiteLLM exited; see {work / 'litellm.log'}")
        try:
            if requests.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("LiteLLM did not answer /health/liveliness within 180 s")


def _answer_of(target: Target) -> str:
    response = requests.post(
        f"http://{target.host}:{target.port}{target.path}",
        data=target.body(stream=False),
        headers=target.headers,
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"])


def _phase(
    contender: Contender, work: Callable[[], list[float]], clients: int
) -> tuple[list[float], float, int]:
    """The phase's latencies, the contender's CPU seconds and context switches during it."""
    if not contender.pid:
        return _concurrently(work, clients), 0.0, 0
    cpu, switches = cpu_seconds(contender.pid), context_switches(contender.pid)
    values = _concurrently(work, clients)
    return (
        values,
        cpu_seconds(contender.pid) - cpu,
        context_switches(contender.pid) - switches,
    )


def _level(
    contenders: list[Contender], clients: int, requests_n: int, streams_n: int
) -> dict[str, Any]:
    plain: dict[str, list[float]] = {c.name: [] for c in contenders}
    ttfb: dict[str, list[float]] = {c.name: [] for c in contenders}
    cpu_plain = dict.fromkeys(plain, 0.0)
    cpu_stream = dict.fromkeys(plain, 0.0)
    switches_plain = dict.fromkeys(plain, 0)
    for _ in range(2):
        for contender in contenders:
            values, cpu, switches = _phase(
                contender, partial(_plain, contender.target, requests_n), clients
            )
            plain[contender.name] += values
            cpu_plain[contender.name] += cpu
            switches_plain[contender.name] += switches
            values, cpu, _ = _phase(
                contender, partial(_streamed, contender.target, streams_n), clients
            )
            ttfb[contender.name] += values[0::2]
            cpu_stream[contender.name] += cpu
    level: dict[str, Any] = {"clients": clients}
    direct = plain["direct"]
    for contender in contenders:
        name = contender.name
        entry: dict[str, Any] = {"latency": _summary(plain[name]), "ttfb": _summary(ttfb[name])}
        if contender.pid:
            entry["cpu_ms_per_request"] = round(cpu_plain[name] * 1000 / len(plain[name]), 2)
            entry["cpu_ms_per_stream"] = round(cpu_stream[name] * 1000 / len(ttfb[name]), 2)
            entry["context_switches_per_request"] = round(
                switches_plain[name] / len(plain[name]), 1
            )
            entry["added"] = {
                "latency_p50_ms": round(entry["latency"]["p50_ms"] - _summary(direct)["p50_ms"], 3),
                "latency_p99_ms": round(entry["latency"]["p99_ms"] - _summary(direct)["p99_ms"], 3),
                "ttfb_p50_ms": round(
                    entry["ttfb"]["p50_ms"] - _summary(ttfb["direct"])["p50_ms"], 3
                ),
                "ttfb_p99_ms": round(
                    entry["ttfb"]["p99_ms"] - _summary(ttfb["direct"])["p99_ms"], 3
                ),
            }
        level[name] = entry
    sovgw, litellm = level["sovgw"], level["litellm"]
    level["sovgw_to_litellm"] = {
        "cpu_per_request": round(sovgw["cpu_ms_per_request"] / litellm["cpu_ms_per_request"], 3),
        "added_latency_p50": round(
            sovgw["added"]["latency_p50_ms"] / max(litellm["added"]["latency_p50_ms"], 1e-3), 3
        ),
    }
    return level


def run(litellm: Path, clients: list[int], requests_n: int, streams_n: int) -> dict[str, Any]:
    with scratch("sovgw-peers-") as folder:
        work = Path(folder)
        upstream, upstream_url = _start(["upstream"])
        proxy, proxy_url = _start_proxy(upstream_url, 1, work)
        peer, peer_url = _start_litellm(litellm, upstream_url, work)
        try:
            upstream_auth = {"Authorization": "Bearer upstream-bench-key"}
            contenders = [
                Contender("direct", Target(upstream_url, upstream_auth, "bench-llm"), None),
                Contender(
                    "sovgw",
                    Target(proxy_url, {"Authorization": f"Bearer {API_KEY}"}, "auto"),
                    proxy.pid,
                ),
                Contender(
                    "litellm",
                    Target(peer_url, {"Authorization": f"Bearer {LITELLM_KEY}"}, "bench"),
                    peer.pid,
                ),
            ]
            for contender in contenders:  # each answers the prompt back whole, values restored
                if _answer_of(contender.target) != PROMPT:
                    raise RuntimeError(f"{contender.name} did not echo the prompt back whole")
                # Warm: imports, pools, caches, and the machine itself. After a minute idle,
                # this VM ran sovgw's first 200 requests at 2.55 ms CPU each, the next ones at
                # 1.6-2.0 ms, and LiteLLM's figure rose in such runs too: with 30 requests of
                # warm-up, the first level measured the machine waking up.
                _plain(contender.target, WARM_UP_REQUESTS)
                _streamed(contender.target, WARM_UP_REQUESTS // 10)
            levels = []
            for concurrency in clients:
                scale = max(1, concurrency // 2)
                levels.append(
                    _level(
                        contenders,
                        concurrency,
                        max(5, requests_n // scale),
                        max(2, streams_n // scale),
                    )
                )
        finally:
            for process in (peer, proxy, upstream):
                process.terminate()
                process.wait()
    return {
        "benchmark": "proxy-peers",
        "prompt_bytes": len(PROMPT.encode()),
        "answer": "echoes the prompt",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "litellm": {"version": LITELLM_VERSION, "workers": 1, "guardrails": None},
        "sovgw": {
            "workers": 1,
            "pipeline": "external destination, pseudonymise, scan and restore, file audit",
            "audit_files_on": SCRATCH_ON,
        },
        "targets": TARGETS,
        "levels": levels,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--litellm", default=".litellm-venv/bin/litellm")
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--requests", type=int, default=200, help="per client and phase (c=1)")
    parser.add_argument("--streams", type=int, default=50, help="per client and phase (c=1)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    report = run(Path(args.litellm).absolute(), clients, args.requests, args.streams)
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
