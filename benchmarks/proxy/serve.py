"""The two servers of the proxy benchmark, each in its own process (as in production):

- ``upstream``: a minimal OpenAI-compatible endpoint whose answer echoes the last user
  message (so a proxy scans a whole answer and restores what it pseudonymised, as in use), so
  the benchmark measures the proxy, not a model; streams a role chunk at once, then the
  answer in content chunks;
- ``proxy``: ``sovgw``'s proxy (real pipeline: DLP, policy, breakers, file audit sink)
  in front of it.

Each prints its URL on the first line of stdout and serves until killed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovgw.httpd import BackgroundServer, QuietHandler
from sovgw.proxy.core import SovereignProxy
from sovgw.sse import DONE, sse_event

STREAM_PIECES = 24


def _echoed(body: dict[str, Any]) -> str:
    """The last user message's text: what a model quoting its prompt would answer."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def _completion(answer: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 400, "completion_tokens": 40, "total_tokens": 440},
    }


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@dataclass(frozen=True)
class Pace:
    """How long the upstream takes: to its first token, and per streamed piece after it. A
    whole (non-streamed) answer takes both. Zero: it answers at once."""

    first_token_s: float = 0.0
    per_piece_s: float = 0.0


def _pieces(answer: str) -> list[str]:
    step = max(1, -(-len(answer) // STREAM_PIECES))
    return [answer[i : i + step] for i in range(0, len(answer), step)]


def make_upstream_handler(pace: Pace) -> type[QuietHandler]:
    class UpstreamHandler(QuietHandler):
        def do_POST(self) -> None:
            body = json.loads(self.read_body() or b"{}")
            answer = _echoed(body)
            pieces = _pieces(answer)
            if not body.get("stream"):
                time.sleep(pace.first_token_s + pace.per_piece_s * len(pieces))
                self.send_json(200, _completion(answer))
                return
            time.sleep(pace.first_token_s)
            self.start_chunked(200, {"Content-Type": "text/event-stream"})
            self.write_chunk(sse_event(_chunk({"role": "assistant", "content": ""})))
            for piece in pieces:
                if pace.per_piece_s:
                    time.sleep(pace.per_piece_s)
                self.write_chunk(sse_event(_chunk({"content": piece})))
            self.write_chunk(sse_event(_chunk({}, finish="stop")) + sse_event(DONE))
            self.end_chunked()

    return UpstreamHandler


def _write_proxy_config(directory: Path, upstream_url: str, key_sha256: str) -> Path:
    (directory / "policies").mkdir(parents=True, exist_ok=True)
    policy = {
        "version": "bench",
        "jurisdiction": "bench",
        "destinations": [
            {
                "upstream": "openai:https://bench.example/v1",
                "name": "bench-llm",
                "region": "eu-central-1",
                "tier": "external",
            }
        ],
        "rules": [
            {
                "id": "bench.external-pseudonymised",
                "levels": ["PUBLIC", "PERSONAL"],
                "destinations": ["bench-llm"],
                "external_sensitive": "pseudonymise",
            }
        ],
    }
    (directory / "policies" / "bench.yaml").write_text(json.dumps(policy))
    gateway = {
        "jurisdictions": [
            {
                "id": "bench",
                "region": "eu-central-1",
                "allowed_regions": ["eu-central-1"],
                "policy": "policies/bench.yaml",
            }
        ]
    }
    (directory / "gateway.yaml").write_text(json.dumps(gateway))
    proxy = {
        "gateway": "gateway.yaml",
        "apps": [
            {
                "id": "bench-app",
                "key_sha256": key_sha256,
                "jurisdiction": "bench",
                "purposes": ["chat"],
                "baseline_level": "PUBLIC",
            }
        ],
    }
    (directory / "proxy.yaml").write_text(json.dumps(proxy))
    return directory / "proxy.yaml"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["upstream", "proxy"])
    parser.add_argument("--upstream-url")
    parser.add_argument("--key-sha256")
    parser.add_argument("--work-dir", help="the proxy's configuration and audit files")
    parser.add_argument("--workers", type=int, default=1, help="proxy worker processes")
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    parser.add_argument("--per-piece-ms", type=float, default=0.0)
    args = parser.parse_args()
    if args.role == "proxy":
        if not args.work_dir:
            parser.error("the proxy needs --work-dir")
        from sovgw.adapters.files import FileAuditSink  # noqa: PLC0415
        from sovgw.app.proxy import build_proxy  # noqa: PLC0415
        from sovgw.proxy.apps import load_proxy_config  # noqa: PLC0415
        from sovgw.proxy.http_server import run_proxy_server  # noqa: PLC0415

        work = Path(args.work_dir)
        config = load_proxy_config(_write_proxy_config(work, args.upstream_url, args.key_sha256))

        def build() -> SovereignProxy:
            return build_proxy(
                config,
                audit=FileAuditSink(work / "audit"),
                base_url_overrides={"bench-llm": f"{args.upstream_url}/v1"},
                api_key_for=lambda endpoint: "upstream-bench-key",
            )

        return run_proxy_server(
            build, "127.0.0.1", 0, args.workers, lambda url: print(url, flush=True)
        )
    pace = Pace(args.first_token_ms / 1000, args.per_piece_ms / 1000)
    server = BackgroundServer(make_upstream_handler(pace)).start()
    print(server.url, flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
