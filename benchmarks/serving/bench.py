"""Measure a model endpoint the way the gateway uses it, side by side with the backend alone.

Paths measured in one run, on the same backend instance:
- ``direct``:    the backend's own stream, in-process (no gateway);
- ``openai``:    the local endpoint's ``/v1/chat/completions`` with SSE streaming;
- ``sagemaker``: boto3 ``sagemaker-runtime`` ``InvokeEndpoint`` against the local endpoint
  (not streaming, so its time to first token is its full latency).
Or, with ``--target openai:URL``, any OpenAI-compatible endpoint on its own.

Tokens are counted as streamed content chunks (one per token for token-streaming servers such
as vLLM and the transformers backend); for ``sagemaker`` they are the server's reported usage.
Output is JSON; ratios compare each gateway path with ``direct`` measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from benchmarks.report import emit
from model_serving.backends import Backend, DeterministicBackend, TransformersBackend
from model_serving.endpoint_server import ServedEndpoints, serve_in_background
from model_serving.schema import ChatMessage

ENDPOINT = "bench-llm"
REGION = "eu-central-1"


@dataclass
class Sample:
    ttft_s: float
    latency_s: float
    tokens: int


@dataclass
class LevelResult:
    path: str
    concurrency: int
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        ttft = sorted(s.ttft_s for s in self.samples)
        latency = sorted(s.latency_s for s in self.samples)
        tokens = sum(s.tokens for s in self.samples)

        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 3)

        return {
            "path": self.path,
            "concurrency": self.concurrency,
            "requests": len(self.samples),
            "errors": self.errors,
            "wall_s": round(self.wall_s, 3),
            "requests_per_s": round(len(self.samples) / self.wall_s, 2) if self.wall_s else None,
            "tokens_per_s": round(tokens / self.wall_s, 1) if self.wall_s else None,
            "ttft_p50_ms": pct(ttft, 0.50),
            "ttft_p99_ms": pct(ttft, 0.99),
            "latency_p50_ms": pct(latency, 0.50),
            "latency_p99_ms": pct(latency, 0.99),
            "mean_tokens_per_request": round(statistics.fmean(s.tokens for s in self.samples), 1)
            if self.samples
            else None,
        }


Call = Callable[[list[dict[str, str]], int], Sample]


def direct_call(backend: Backend) -> Call:
    def call(messages: list[dict[str, str]], max_tokens: int) -> Sample:
        started = time.perf_counter()
        first: float | None = None
        tokens = 0
        chat = [ChatMessage.model_validate(m) for m in messages]
        for _piece in backend.stream(ENDPOINT, REGION, chat, max_tokens):
            first = first or time.perf_counter()
            tokens += 1
        end = time.perf_counter()
        return Sample((first or end) - started, end - started, tokens)

    return call


def openai_call(base_url: str, model: str) -> Call:
    session_local = threading.local()

    def call(messages: list[dict[str, str]], max_tokens: int) -> Sample:
        http = getattr(session_local, "http", None) or requests.Session()
        session_local.http = http
        started = time.perf_counter()
        first: float | None = None
        tokens = 0
        body = {"model": model, "messages": messages, "max_tokens": max_tokens, "stream": True}
        with http.post(
            f"{base_url}/v1/chat/completions", json=body, stream=True, timeout=120
        ) as response:
            response.raise_for_status()
            for line in response.iter_lines(decode_unicode=True):
                if not line or not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[6:])["choices"][0]["delta"]
                if "content" in delta:
                    first = first or time.perf_counter()
                    tokens += 1
        end = time.perf_counter()
        return Sample((first or end) - started, end - started, tokens)

    return call


def sagemaker_call(endpoint_url: str, region: str, endpoint: str) -> Call:
    local = threading.local()

    def call(messages: list[dict[str, str]], max_tokens: int) -> Sample:
        client = getattr(local, "client", None) or boto3.client(
            "sagemaker-runtime",
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        local.client = client
        started = time.perf_counter()
        response = client.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/json",
            Body=json.dumps({"messages": messages, "max_tokens": max_tokens}),
        )
        body = json.loads(response["Body"].read())
        end = time.perf_counter()
        return Sample(end - started, end - started, int(body["usage"]["completion_tokens"]))

    return call


def target_call(target: str, model: str) -> Call:
    """``openai:<base_url>`` or ``sagemaker:<endpoint_url>@<region>/<endpoint>``."""
    kind, _, rest = target.partition(":")
    if kind == "openai" and rest:
        return openai_call(rest, model)
    if kind == "sagemaker" and "@" in rest and "/" in rest.rsplit("@", 1)[1]:
        url, _, where = rest.rpartition("@")
        region, _, endpoint = where.partition("/")
        return sagemaker_call(url, region, endpoint)
    raise SystemExit(
        f"bad --target {target!r}: use openai:<base_url> "
        "or sagemaker:<endpoint_url>@<region>/<endpoint>"
    )


def run_level(
    path: str,
    call: Call,
    *,
    concurrency: int,
    requests_per_worker: int,
    messages: list[dict[str, str]],
    max_tokens: int,
) -> LevelResult:
    result = LevelResult(path, concurrency)
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(requests_per_worker):
            try:
                sample = call(messages, max_tokens)
            except Exception:
                with lock:
                    result.errors += 1
                continue
            with lock:
                result.samples.append(sample)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall_s = time.perf_counter() - started
    return result


def _prompt(words: int) -> list[dict[str, str]]:
    text = " ".join(f"clause{i % 97}" for i in range(words))
    return [
        {"role": "system", "content": "You review contracts."},
        {"role": "user", "content": f"Summarise: {text}"},
    ]


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 3) if value and base else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    messages = _prompt(args.prompt_words)
    levels = [int(c) for c in args.concurrency.split(",")]
    report: dict[str, Any] = {
        "benchmark": "serving",
        "host": {"python": platform.python_version(), "machine": platform.machine()},
        "prompt_words": args.prompt_words,
        "max_tokens": args.max_tokens,
        "requests_per_worker": args.requests_per_worker,
        "levels": [],
    }
    server = None
    if args.target:
        paths: dict[str, Call] = {"target": target_call(args.target, args.model)}
        report["target"] = args.target
    else:
        backend: Backend = (
            TransformersBackend(Path(args.model_dir), fixed_length=True)
            if args.backend == "transformers"
            else DeterministicBackend()
        )
        report["backend"] = args.backend
        server = serve_in_background(ServedEndpoints({(REGION, ENDPOINT)}, backend))
        paths = {
            "direct": direct_call(backend),
            "openai": openai_call(server.url, ENDPOINT),
            "sagemaker": sagemaker_call(server.url, REGION, ENDPOINT),
        }
        for call in paths.values():  # warm-up: model load, CUDA kernels, connection pools
            call(messages, args.max_tokens)
    try:
        for concurrency in levels:
            row: dict[str, Any] = {"concurrency": concurrency}
            for name, call in paths.items():
                row[name] = run_level(
                    name,
                    call,
                    concurrency=concurrency,
                    requests_per_worker=args.requests_per_worker,
                    messages=messages,
                    max_tokens=args.max_tokens,
                ).summary()
                print(f"concurrency {concurrency} {name}: {row[name]}", file=sys.stderr, flush=True)
            if "direct" in row:
                base = row["direct"]
                row["ratios_vs_direct"] = {
                    name: {
                        "requests_per_s": _ratio(
                            row[name]["requests_per_s"], base["requests_per_s"]
                        ),
                        "latency_p50": _ratio(row[name]["latency_p50_ms"], base["latency_p50_ms"]),
                        "tokens_per_s": _ratio(row[name]["tokens_per_s"], base["tokens_per_s"])
                        if name != "sagemaker"
                        else None,
                    }
                    for name in paths
                    if name != "direct"
                }
            report["levels"].append(row)
    finally:
        if server is not None:
            server.stop()
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target",
        help="measure one endpoint alone: openai:<base_url> or sagemaker:<url>@<region>/<endpoint>",
    )
    parser.add_argument("--model", default=ENDPOINT, help="model name for --target")
    parser.add_argument(
        "--backend", choices=["deterministic", "transformers"], default="deterministic"
    )
    parser.add_argument("--model-dir", help="model directory for --backend transformers")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--requests-per-worker", type=int, default=8)
    parser.add_argument("--prompt-words", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--output", help="also write the JSON report here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.backend == "transformers" and not args.model_dir:
        print("error: --backend transformers needs --model-dir", file=sys.stderr)
        return 2
    report = run(args)
    emit(report, args.output)
    return 0
