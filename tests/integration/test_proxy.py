"""The OpenAI-compatible proxy over real HTTP: what leaves byte for byte (capturing upstreams),
split placeholders in SSE, identity, denials, failover and circuit breakers."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import openai
import pytest
import requests

from model_serving.endpoint_server import ServedEndpoints, serve_in_background
from sovgw.adapters.files import FileAuditSink
from sovgw.app.proxy import build_proxy
from sovgw.domain.canaries import CanarySet, CanaryWatch, Sighting, new_canaries
from sovgw.domain.failover import BreakerBoard
from sovgw.httpd import BackgroundServer, QuietHandler
from sovgw.ports import FreshCanaries, LocalAuditSink
from sovgw.proxy.apps import key_hash, load_proxy_config
from sovgw.proxy.compute import ComputeGate
from sovgw.proxy.core import SovereignProxy
from sovgw.proxy.http_server import serve_proxy
from tests.conftest import wait_until

EMAIL, IBAN = "max.mueller@example.de", "DE89 3704 0044 0532 0130 00"
PHONE = "+49 151 2345 6789"
NEVER_SENT = "attacker@evil.example"
NL_KEY, DE_KEY = "sk-test-nl-" + "a" * 20, "sk-test-de-" + "b" * 20


@dataclass
class Capture:
    """An upstream that records each raw request and answers from a script."""

    script: list[tuple[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    written: int = 0  # pieces a "slow" stream wrote, and how it ended
    ended: str | None = None

    def next_action(self) -> tuple[str, Any]:
        with self.lock:
            return self.script.pop(0) if self.script else ("json", _completion("ok"))


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return f"data: {json.dumps(body | {'choices': [choice]})}\n\n".encode()


def _capturing_server(capture: Capture) -> BackgroundServer:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.read_body() or b""
            capture.requests.append(
                {
                    "line": self.requestline,
                    "headers": dict(self.headers.items()),
                    "body": body,
                    "peer": self.client_address,
                }
            )
            kind, value = capture.next_action()
            if kind == "status":
                self.send_json(value, {"error": {"message": "upstream says no"}})
            elif kind == "error":
                self.send_json(*value)
            elif kind == "hang":
                time.sleep(value)
                self.send_json(200, _completion("too late"))
            elif kind == "json":
                self.send_json(200, value)
            elif kind == "call":  # the answer of a function, called as the request arrives
                self.send_json(200, value())
            elif kind == "close":  # answers, then closes the kept-alive connection
                self.send_json(200, value)
                self.close_connection = True
            elif kind == "slow":  # SSE pieces 20 ms apart, until its reader goes away
                self.start_chunked(200, {"Content-Type": "text/event-stream"})
                try:
                    for piece in value:
                        time.sleep(0.02)
                        self.write_chunk(piece)
                        capture.written += 1
                    self.end_chunked()
                    capture.ended = "complete"
                except OSError:
                    self.close_connection = True
                    capture.ended = "reader gone"
            elif kind == "chunked":  # SSE on a keep-alive connection
                self.start_chunked(200, {"Content-Type": "text/event-stream"})
                for piece in value:
                    self.write_chunk(piece)
                self.end_chunked()
            else:  # raw SSE pieces, written as they are
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for piece in value:
                    self.wfile.write(piece)
                    self.wfile.flush()

    return BackgroundServer(Handler).start()


@dataclass
class ProxyWorld:
    proxy: SovereignProxy
    url: str
    a: Capture
    b: Capture
    served: ServedEndpoints
    audit_dir: Path

    def post(self, body: dict[str, Any], key: str | None = NL_KEY, **headers: str) -> Any:
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return requests.post(
            f"{self.url}/v1/chat/completions", json=body, headers=headers, timeout=10
        )

    def audit_records(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.audit_dir.rglob("*.json"))]


def _write_config(tmp: Path) -> Path:
    (tmp / "policies").mkdir()
    (tmp / "policies" / "eu-nl.yaml").write_text(
        json.dumps(
            {
                "version": "t1",
                "jurisdiction": "eu-nl",
                "destinations": [
                    {
                        "upstream": "openai:https://vendor-a.example/v1",
                        "name": "vendor-a",
                        "region": "eu-west-1",
                        "tier": "external",
                    },
                    {
                        "upstream": "openai:https://vendor-b.example/v1",
                        "name": "vendor-b",
                        "region": "eu-west-1",
                        "tier": "external",
                    },
                    {
                        "upstream": "openai:https://abroad.example/v1",
                        "name": "abroad",
                        "region": "us-east-1",
                        "tier": "external",
                    },
                ],
                "rules": [
                    {
                        "id": "faq.external",
                        "levels": ["PUBLIC", "PERSONAL"],
                        "purposes": ["faq"],
                        "destinations": ["abroad", "vendor-a", "vendor-b"],
                        "external_sensitive": "pseudonymise",
                    }
                ],
            }
        )
    )
    (tmp / "policies" / "eu-de.yaml").write_text(
        json.dumps(
            {
                "version": "t1",
                "jurisdiction": "eu-de",
                "destinations": [
                    {"upstream": "sagemaker:llm-a@eu-central-1", "tier": "sovereign"},
                    {"upstream": "sagemaker:llm-b@eu-central-1", "tier": "sovereign"},
                ],
                "rules": [
                    {
                        "id": "all.sovereign",
                        "levels": ["PUBLIC", "INTERNAL", "CONFIDENTIAL", "PERSONAL", "PRIVILEGED"],
                        "destinations": ["llm-a", "llm-b"],
                    }
                ],
            }
        )
    )
    (tmp / "gateway.yaml").write_text(
        json.dumps(
            {
                "jurisdictions": [
                    {
                        "id": "eu-nl",
                        "region": "eu-west-1",
                        "allowed_regions": ["eu-west-1"],
                        "policy": "policies/eu-nl.yaml",
                    },
                    {
                        "id": "eu-de",
                        "region": "eu-central-1",
                        "allowed_regions": ["eu-central-1"],
                        "policy": "policies/eu-de.yaml",
                    },
                ]
            }
        )
    )
    proxy_yaml = tmp / "proxy.yaml"
    proxy_yaml.write_text(
        json.dumps(
            {
                "gateway": "gateway.yaml",
                "max_body_bytes": 65536,
                "upstream_read_timeout_s": 0.5,
                "model_aliases": [{"pattern": "gpt-4o*", "route": "auto"}],
                "apps": [
                    {
                        "id": "faq-bot",
                        "key_sha256": key_hash(NL_KEY),
                        "jurisdiction": "eu-nl",
                        "purposes": ["faq"],
                        "baseline_level": "PUBLIC",
                        "model_aliases": [
                            {"pattern": "sovereign-only", "route": "sovereign"},
                            {"pattern": "claude-*", "route": "vendor-b"},
                        ],
                    },
                    {
                        "id": "legal-portal",
                        "key_sha256": key_hash(DE_KEY),
                        "jurisdiction": "eu-de",
                        "purposes": ["chat"],
                        "baseline_level": "CONFIDENTIAL",
                    },
                ],
            }
        )
    )
    return proxy_yaml


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProxyWorld]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    a, b = Capture(), Capture()
    server_a, server_b = _capturing_server(a), _capturing_server(b)
    served = ServedEndpoints({("eu-central-1", "llm-a"), ("eu-central-1", "llm-b")})
    model_server = serve_in_background(served)
    config = load_proxy_config(_write_config(tmp_path))
    proxy = build_proxy(
        config,
        audit=FileAuditSink(tmp_path / "audit"),
        sagemaker_endpoint_url=model_server.url,
        base_url_overrides={
            "vendor-a": f"{server_a.url}/v1",
            "vendor-b": f"{server_b.url}/v1",
            "abroad": f"{server_a.url}/abroad",
        },
        api_key_for=lambda endpoint: f"upstream-key-of-{endpoint.name}",
    )
    proxy.breakers = BreakerBoard(failure_threshold=1, cooldown_s=60)
    server = serve_proxy(proxy)
    try:
        yield ProxyWorld(proxy, server.url, a, b, served, tmp_path / "audit")
    finally:
        for stoppable in (server, server_a, server_b, model_server):
            stoppable.stop()


REQUEST = {
    "model": "auto",
    "user": EMAIL,
    "metadata": {"ticket": EMAIL},
    "store": True,
    "temperature": 0.2,
    "messages": [
        {"role": "system", "content": "Answer FAQ questions."},
        {"role": "user", "content": f"I am {EMAIL}, call {PHONE}. Refund to {IBAN}?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": json.dumps({"email": EMAIL})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": f"account {IBAN} of {EMAIL}"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": f"Look up a customer (example: {EMAIL})",
                "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
            },
        }
    ],
}


def test_only_placeholders_leave_for_an_external_upstream_byte_for_byte(world: ProxyWorld) -> None:
    world.a.script.append(("json", _completion("We refund [IBAN_1] for [EMAIL_1] today.")))
    response = world.post(REQUEST)
    assert response.status_code == 200, response.text

    (sent,) = world.a.requests
    expected = {
        "model": "vendor-a",
        "messages": [
            {"role": "system", "content": "Answer FAQ questions."},
            {"role": "user", "content": "I am [EMAIL_1], call [PHONE_1]. Refund to [IBAN_1]?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"email": "[EMAIL_1]"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "account [IBAN_1] of [EMAIL_1]"},
        ],
        "temperature": 0.2,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Look up a customer (example: [EMAIL_1])",
                    "parameters": {
                        "type": "object",
                        "properties": {"email": {"type": "string"}},
                    },
                },
            }
        ],
        "stream": False,
    }
    assert sent["body"] == json.dumps(expected).encode()
    assert sent["line"] == "POST /v1/chat/completions HTTP/1.1"
    assert sent["headers"]["Authorization"] == "Bearer upstream-key-of-vendor-a"
    everything = (sent["line"] + json.dumps(sent["headers"])).encode() + sent["body"]
    for value in (EMAIL, IBAN, PHONE, NL_KEY, "metadata", "store"):
        assert value.encode() not in everything
    assert {k.lower() for k in sent["headers"]} <= {
        "host", "accept-encoding", "accept", "connection", "user-agent", "content-type",
        "content-length", "authorization",
    }  # fmt: skip

    answer = response.json()
    assert answer["choices"][0]["message"]["content"] == f"We refund {IBAN} for {EMAIL} today."
    assert answer["sovgw"]["endpoint"] == "vendor-a@eu-west-1"
    assert answer["sovgw"]["pseudonymised"] == {"EMAIL": 4, "PHONE": 1, "IBAN": 2}
    assert response.headers["X-Sovgw-Rule"] == "faq.external"
    assert world.b.requests == [], "the out-of-region destination and vendor-b were not used"


def test_values_the_upstream_invents_are_removed_and_audited(world: ProxyWorld) -> None:
    world.a.script.append(("json", _completion(f"Write to {NEVER_SENT} about [EMAIL_1].")))
    answer = world.post(REQUEST).json()
    assert answer["choices"][0]["message"]["content"] == f"Write to [REMOVED_EMAIL] about {EMAIL}."
    records = world.audit_records()
    assert {r["stage"] for r in records} == {"routing", "model_invocation"}
    invocation = next(r for r in records if r["stage"] == "model_invocation")
    assert invocation["output_removed"] == {"EMAIL": 1}
    assert invocation["principal"] == "app:faq-bot" and invocation["endpoint"] == "vendor-a"
    routing = next(r for r in records if r["stage"] == "routing")
    assert routing["excluded"] and "us-east-1" in routing["excluded"][0]
    dumped = json.dumps(records)
    for value in (EMAIL, IBAN, PHONE, NEVER_SENT):
        assert value not in dumped


def _read_sse(response: requests.Response) -> tuple[list[dict[str, Any]], str]:
    events = [line for line in response.text.split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events), events
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )
    return chunks, text


def test_stream_restores_placeholders_split_across_chunks_and_stays_valid_sse(
    world: ProxyWorld,
) -> None:
    pieces = ["Dear [EM", "AIL_1], your ", "IBAN [IB", "AN_1", "] is noted; not ", "attacker@", "evil.", "example. ", "Bye."]  # fmt: skip
    raw = [_chunk({"role": "assistant", "content": ""})]
    raw += [_chunk({"content": p}) for p in pieces]
    raw += [_chunk({}, finish="stop"), b"data: [DONE]\n\n"]
    # split the byte stream itself at awkward places too
    joined = b"".join(raw)
    world.a.script.append(("sse", [joined[i : i + 37] for i in range(0, len(joined), 37)]))
    response = world.post({**REQUEST, "stream": True})
    assert response.status_code == 200 and response.headers["X-Sovgw-Endpoint"].startswith(
        "vendor-a"
    )
    chunks, text = _read_sse(response)
    assert text == f"Dear {EMAIL}, your IBAN {IBAN} is noted; not [REMOVED_EMAIL]. Bye."
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert json.loads(world.a.requests[0]["body"])["stream"] is True
    invocation = next(r for r in world.audit_records() if r["stage"] == "model_invocation")
    assert invocation["output_removed"] == {"EMAIL": 1}


def test_the_pipeline_waits_for_the_compute_gate_and_no_io_holds_it(world: ProxyWorld) -> None:
    """Scanning waits while another request's scanning holds the gate; the upstream call and
    the audit writes happen with the gate free (one slow upstream or audit store must never
    hold every other request)."""
    gate = world.proxy.compute
    busy_at_upstream: list[bool] = []
    busy_at_audit: list[bool] = []
    sink = world.proxy.audit

    class WatchedSink:
        def write(self, record: Any) -> str:
            busy_at_audit.append(gate.busy())
            return sink.write(record)

    world.proxy.audit = WatchedSink()

    def answer() -> dict[str, Any]:
        busy_at_upstream.append(gate.busy())
        return _completion("ok")

    world.a.script.append(("call", answer))
    assert world.post(REQUEST).status_code == 200
    assert busy_at_upstream == [False]
    assert busy_at_audit == [False, False]  # routing and invocation records

    with ThreadPoolExecutor(1) as pool, gate.held(0):
        pending = pool.submit(world.post, REQUEST)
        time.sleep(0.3)
        assert not pending.done() and len(world.a.requests) == 1
    assert pending.result(timeout=10).status_code == 200


def test_local_audit_files_are_written_on_the_loop_and_a_network_store_on_a_thread(
    world: ProxyWorld,
) -> None:
    """A local file's write is made in place by the event loop (a hop to a thread and back
    cost more than the write); any other store, S3 above all, is written from a pool thread."""
    threads: list[tuple[str, str]] = []
    files: LocalAuditSink = FileAuditSink(world.audit_dir)

    class LocalFiles:
        writes_locally: Literal[True] = True

        def write(self, record: Any) -> str:
            threads.append(("local", threading.current_thread().name))
            return files.write(record)

    class Network:
        def write(self, record: Any) -> str:
            threads.append(("network", threading.current_thread().name))
            return files.write(record)

    in_place: LocalAuditSink = LocalFiles()
    world.proxy.audit = in_place
    assert world.post(REQUEST).status_code == 200
    world.proxy.audit = Network()
    assert world.post(REQUEST).status_code == 200
    local = [name for kind, name in threads if kind == "local"]
    network = [name for kind, name in threads if kind == "network"]
    assert len(local) == len(network) == 2
    assert not any(name.startswith("sovgw-proxy") for name in local)
    assert all(name.startswith("sovgw-proxy") for name in network)


def test_a_large_body_is_prepared_on_a_thread_and_leaves_pseudonymised(
    world: ProxyWorld,
) -> None:
    """A body over the gate's limit is scanned on a pool thread (the loop serves on meanwhile),
    by the same steps: only placeholders leave, and the caller gets its values back."""
    world.proxy.compute = ComputeGate(solo_limit=100)
    routed_on: list[str] = []
    files: LocalAuditSink = FileAuditSink(world.audit_dir)

    class LocalFiles:
        writes_locally: Literal[True] = True

        def write(self, record: Any) -> str:
            if record.stage == "routing":
                routed_on.append(threading.current_thread().name)
            return files.write(record)

    in_place: LocalAuditSink = LocalFiles()
    world.proxy.audit = in_place
    world.a.script.append(("json", _completion("Noted: [EMAIL_1], [IBAN_1].")))
    response = world.post(REQUEST)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == f"Noted: {EMAIL}, {IBAN}."
    sent = world.a.requests[0]["body"].decode()
    assert EMAIL not in sent and IBAN not in sent and "[EMAIL_1]" in sent
    assert len(routed_on) == 1 and routed_on[0].startswith("sovgw-proxy")


def test_a_fresh_canary_watch_is_read_without_blocking(world: ProxyWorld) -> None:
    """The watch is read in place while it is fresh; only a due read (it may reach Secrets
    Manager) is made on a thread."""
    reads: list[str] = []

    class Feed:
        def __init__(self, fresh: bool) -> None:
            self._fresh = fresh

        def __call__(self) -> CanaryWatch:
            reads.append(threading.current_thread().name)
            return CanaryWatch()

        def fresh(self) -> CanaryWatch | None:
            return CanaryWatch() if self._fresh else None

    feed: FreshCanaries = Feed(fresh=True)
    world.proxy.canaries = feed
    assert world.post(REQUEST).status_code == 200
    assert reads == []
    world.proxy.canaries = Feed(fresh=False)
    assert world.post(REQUEST).status_code == 200
    assert len(reads) == 1 and reads[0].startswith("sovgw-proxy")


def test_streams_reuse_the_upstream_connection(world: ProxyWorld) -> None:
    """Reading an upstream stream to its end after ``[DONE]`` keeps the connection pooled: a
    new TCP (and TLS) handshake per streamed request would sit in every time-to-first-byte."""
    events = [_chunk({"role": "assistant", "content": "Hello"}), b"data: [DONE]\n\n"]
    for _ in range(3):
        world.a.script.append(("chunked", events))
        _, text = _read_sse(world.post({**REQUEST, "stream": True}))
        assert text == "Hello"
    assert len(world.a.requests) == 3
    assert len({r["peer"] for r in world.a.requests}) == 1


def test_whole_answers_reuse_the_upstream_connection_and_survive_its_close(
    world: ProxyWorld,
) -> None:
    """The event loop's client keeps the upstream connection alive between whole answers;
    when the upstream closed it while idle, the next request goes out on a new one."""
    for _ in range(3):
        assert world.post(REQUEST).status_code == 200
    assert len({r["peer"] for r in world.a.requests}) == 1
    world.a.script.append(("close", _completion("ok")))  # answers, then closes the connection
    assert world.post(REQUEST).status_code == 200
    assert world.post(REQUEST).status_code == 200
    assert len({r["peer"] for r in world.a.requests}) == 2


def test_stream_through_sagemaker_response_stream(world: ProxyWorld) -> None:
    body = {"messages": [{"role": "user", "content": f"Summarise for {EMAIL}"}], "stream": True}
    response = world.post(body, key=DE_KEY)
    assert response.status_code == 200
    _, text = _read_sse(response)
    report = json.loads(text)  # the deterministic endpoint reports what reached it
    assert report["received"] == [{"role": "user", "content": f"Summarise for {EMAIL}"}]
    assert world.served.received[-1][2] == [{"role": "user", "content": "Summarise for [EMAIL_1]"}]


@pytest.mark.parametrize(
    ("key", "headers", "status", "message"),
    [
        (None, {}, 401, "API key is required"),
        ("sk-wrong", {}, 401, "not valid"),
        (NL_KEY, {"X-Sovgw-Jurisdiction": "eu-de"}, 403, "bound to jurisdiction eu-nl"),
        (NL_KEY, {"X-Sovgw-Purpose": "chat"}, 403, "may not use purpose 'chat'"),
    ],
)
def test_identity_is_required_and_bound(
    world: ProxyWorld, key: str | None, headers: dict[str, str], status: int, message: str
) -> None:
    response = world.post(REQUEST, key=key, **headers)
    assert response.status_code == status and message in response.json()["error"]["message"]
    assert world.a.requests == [] and world.b.requests == []


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("This memo is attorney-client privileged: assess the claim.", "PRIVILEGED"),
        ("Use key AKIAIOSFODNN7EXAMPLE to fetch the file.", "PRIVILEGED"),
    ],
)
def test_privileged_content_and_secrets_never_reach_an_external_upstream(
    world: ProxyWorld, content: str, why: str
) -> None:
    response = world.post({"messages": [{"role": "user", "content": content}]})
    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("permission_error", "policy_denied")
    assert why in error["message"]
    assert error["sovgw"]["allowed"] is False
    assert world.a.requests == [] and world.b.requests == []
    (routing,) = world.audit_records()
    assert routing["outcome"] == "denied" and "AKIA" not in json.dumps(routing)


def test_a_named_model_outside_the_decision_is_refused(world: ProxyWorld) -> None:
    """A destination outside the jurisdiction's regions is, to the caller, a model it has no
    access to; an alias whose route the decision excludes is a refusal that says so."""
    abroad = world.post({**REQUEST, "model": "abroad"})
    assert abroad.status_code == 404 and abroad.json()["error"]["code"] == "model_not_found"
    refused = world.post({**REQUEST, "model": "sovereign-only"})
    error = refused.json()["error"]
    assert refused.status_code == 403 and "may not receive" in error["message"]
    assert (error["code"], error["param"], error["sovgw"]["allowed"]) == (
        "policy_denied",
        "model",
        False,
    )
    assert (
        world.post({**REQUEST, "model": "vendor-b"})
        .json()["sovgw"]["endpoint"]
        .startswith("vendor-b")
    )
    assert world.a.requests == [] or all("abroad" not in r["line"] for r in world.a.requests)


@pytest.mark.parametrize(
    ("model", "endpoint"),
    [("gpt-4o-mini", "vendor-a@eu-west-1"), ("gpt-4o", "vendor-a@eu-west-1"),
     ("claude-3-5-haiku", "vendor-b@eu-west-1")],
)  # fmt: skip
def test_the_model_names_clients_send_are_aliases_the_policy_still_routes(
    world: ProxyWorld, model: str, endpoint: str
) -> None:
    response = world.post({**REQUEST, "model": model})
    assert response.status_code == 200 and response.json()["sovgw"]["endpoint"] == endpoint
    assert response.headers["X-Sovgw-Endpoint"] == endpoint
    sent = json.loads((world.a.requests or world.b.requests)[-1]["body"])
    assert sent["model"] == endpoint.split("@", maxsplit=1)[0], (
        "the upstream gets its own model name"
    )


def test_a_name_that_maps_to_nothing_is_model_not_found_everywhere(world: ProxyWorld) -> None:
    response = world.post({**REQUEST, "model": "llama-9000"})
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "The model `llama-9000` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert world.a.requests == [] and world.b.requests == [] and world.audit_records() == []
    auth = {"Authorization": f"Bearer {NL_KEY}"}
    one = requests.get(
        f"{world.url}/v1/models/gpt-4o-mini?api-version=2024-06-01", headers=auth, timeout=5
    )
    assert one.status_code == 200 and one.json()["id"] == "gpt-4o-mini"
    assert one.json()["sovgw"]["route"] == "auto"
    missing = requests.get(f"{world.url}/v1/models/llama-9000", headers=auth, timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    listed = requests.get(f"{world.url}/v1/models?x=1", headers=auth, timeout=5).json()
    assert "sovereign-only" in [m["id"] for m in listed["data"]], "exact aliases are listed"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 400, "JSON object"),
        (json.dumps({"messages": []}).encode(), 400, "messages"),
        (json.dumps({"messages": [{"role": "hacker", "content": EMAIL}]}).encode(), 400, "role"),
        (b'{"x": "' + b"y" * 70_000 + b'"}', 413, "body over"),
    ],
)
def test_bad_bodies_get_a_clear_error_without_echoing_values(
    world: ProxyWorld, body: bytes, status: int, message: str
) -> None:
    response = requests.post(
        f"{world.url}/v1/chat/completions",
        data=body,
        headers={"Authorization": f"Bearer {NL_KEY}", "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == status and message in response.text
    assert EMAIL not in response.text


def test_failover_to_the_next_allowed_endpoint_and_open_circuit(world: ProxyWorld) -> None:
    world.a.script.extend([("status", 503), ("status", 503)])  # the adapter retries once
    first = world.post(REQUEST)
    assert first.status_code == 200 and first.json()["sovgw"]["endpoint"] == "vendor-b@eu-west-1"
    assert len(world.a.requests) == 2 and len(world.b.requests) == 1
    second = world.post(REQUEST)
    assert second.json()["sovgw"]["endpoint"] == "vendor-b@eu-west-1"
    assert len(world.a.requests) == 2, "vendor-a's circuit is open: not called again"
    assert world.proxy.breakers.states()["vendor-a@eu-west-1"] == "open"


def test_a_hanging_upstream_times_out_and_fails_over(world: ProxyWorld) -> None:
    world.a.script.extend([("hang", 2.0), ("hang", 2.0)])
    started = time.monotonic()
    response = world.post(REQUEST)
    assert response.status_code == 200
    assert response.json()["sovgw"]["endpoint"] == "vendor-b@eu-west-1"
    assert time.monotonic() - started < 2.0, "the read timeout (0.5 s) bounds the wait"


def test_no_healthy_endpoint_fails_closed_with_503(world: ProxyWorld) -> None:
    world.a.script.extend([("status", 503)] * 2)
    world.b.script.extend([("status", 502)] * 2)
    response = world.post(REQUEST)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "no healthy endpoint" in response.json()["error"]["message"]
    assert all(not r["line"].startswith("POST /abroad") for r in world.a.requests)
    invocation = next(r for r in world.audit_records() if r["stage"] == "model_invocation")
    assert invocation["outcome"] == "failed"


def test_every_endpoint_throttling_is_a_429_with_the_upstreams_wait(world: ProxyWorld) -> None:
    """Upstream 429s fail over like 5xx; when every allowed endpoint is busy the caller gets
    OpenAI's 429 shape and the shortest Retry-After an upstream named (it was 503 before),
    which the official client raises as RateLimitError."""
    busy = (429, {"error": {"message": "slow down", "type": "requests"}}, {"Retry-After": "7"})
    world.a.script.append(("error", busy))  # not retried on the same endpoint: failed over
    world.b.script.append(("error", (429, {"error": {"message": "busy"}}, {})))
    response = world.post(REQUEST)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert EMAIL not in response.text
    assert len(world.a.requests) == len(world.b.requests) == 1
    world.a.script.append(("error", busy))
    world.b.script.append(("error", busy))
    client = openai.OpenAI(base_url=f"{world.url}/v1", api_key=NL_KEY, max_retries=0, timeout=10)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "Summarise the case"}]
        )
    assert raised.value.code == "rate_limit_exceeded"
    states = world.proxy.breakers.states()
    assert set(states.values()) == {"closed"}  # busy is not broken: no circuit opened


def test_sagemaker_failover_stays_in_region(world: ProxyWorld) -> None:
    world.served.unavailable.add(("eu-central-1", "llm-a"))
    response = world.post({"messages": [{"role": "user", "content": "hello"}]}, key=DE_KEY)
    assert response.json()["sovgw"]["endpoint"] == "llm-b@eu-central-1"
    # Only the other in-region endpoint was invoked. How often is not the claim: on a loaded
    # machine botocore may retry a read that outlived this world's 0.5 s timeout.
    assert {(region, name) for region, name in world.served.invocations} == {
        ("eu-central-1", "llm-b")
    }


def test_models_lists_only_in_region_destinations(world: ProxyWorld) -> None:
    listed = requests.get(
        f"{world.url}/v1/models", headers={"Authorization": f"Bearer {NL_KEY}"}, timeout=5
    ).json()
    assert [m["id"] for m in listed["data"]] == ["auto", "vendor-a", "vendor-b", "sovereign-only"]
    assert requests.get(f"{world.url}/v1/models", timeout=5).status_code == 401


def _raw(world: ProxyWorld, request: bytes, read_until_close: bool = True) -> bytes:
    """One raw HTTP exchange on a fresh connection (what a careless client sends)."""
    host, port = world.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        received = b""
        while read_until_close:
            piece = conn.recv(65536)
            if not piece:
                break
            received += piece
        return received


def _error_of(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "invalid_header"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "invalid_header"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, "invalid_header"),
        (b"PUT /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405, "method_not_allowed"),
        (b"GET /v2/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, None),
        (b"BREW /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"),
        (b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431, "request_header_fields_too_large"),
    ],
)  # fmt: skip
def test_malformed_http_gets_a_json_error_and_nothing_left_on_the_connection(
    world: ProxyWorld, request_bytes: bytes, status: int, code: str | None
) -> None:
    raw = _raw(world, request_bytes)
    answered, error = _error_of(raw)
    assert answered == status and error["code"] == code
    assert set(error) >= {"message", "type", "param", "code"}
    assert raw.count(b"HTTP/1.1 ") == 1, "a leftover chunk was not parsed as a second request"
    assert requests.get(f"{world.url}/health", timeout=5).status_code == 200


def test_an_upstream_refusal_reaches_the_caller_as_its_own_error_not_a_502(
    world: ProxyWorld,
) -> None:
    world.a.script.append(
        ("error", (400, {"error": {"message": f"too long: {EMAIL}", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}))
    )  # fmt: skip
    response = world.post(REQUEST)
    assert response.status_code == 400, "a 400 is the caller's to fix: clients must not retry"
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")
    assert EMAIL not in response.text, "the upstream's message is not passed on"
    assert len(world.a.requests) == 1 and world.b.requests == [], "no retry, no failover"
    invocation = next(r for r in world.audit_records() if r["stage"] == "model_invocation")
    assert invocation["outcome"] == "failed" and "HTTP 400" in invocation["reason"]


def test_a_stream_the_upstream_cuts_short_is_an_error_not_an_answer(world: ProxyWorld) -> None:
    world.a.script.append(("raw", [_chunk({"role": "assistant", "content": "The refund"})]))
    response = requests.post(
        f"{world.url}/v1/chat/completions",
        json={**REQUEST, "stream": True, "stream_options": {"include_usage": True}},
        headers={"Authorization": f"Bearer {NL_KEY}"},
        timeout=10,
    )
    events = [
        json.loads(line[6:]) for line in response.text.splitlines()
        if line.startswith("data: {")
    ]  # fmt: skip
    assert events[-1]["error"]["code"] == "upstream_error"
    assert "before any finish_reason" in events[-1]["error"]["message"]
    sent = json.loads(world.a.requests[0]["body"])
    assert sent["stream_options"] == {"include_usage": True}, "forwarded"
    invocation = next(r for r in world.audit_records() if r["stage"] == "model_invocation")
    assert invocation["outcome"] == "upstream_truncated"


def test_a_caller_that_leaves_mid_stream_stops_the_upstream_read(world: ProxyWorld) -> None:
    """300 pieces 20 ms apart (6 s); the caller reads the first event and hangs up: the proxy
    stops reading the upstream (it closes that connection) and still audits the call."""
    words = [_chunk({"content": "word "}) for _ in range(300)]
    world.a.script.append(
        ("slow", [_chunk({"role": "assistant", "content": ""}), *words, _chunk({}, finish="stop")])
    )
    with requests.post(
        f"{world.url}/v1/chat/completions",
        json={**REQUEST, "stream": True},
        headers={"Authorization": f"Bearer {NL_KEY}"},
        stream=True,
        timeout=10,
    ) as response:
        assert next(response.iter_lines()).startswith(b"data: {")
    wait_until(lambda: world.a.ended, "the upstream's writer ends")
    assert world.a.ended == "reader gone" and world.a.written < 150
    invocation = wait_until(
        lambda: [r for r in world.audit_records() if r["stage"] == "model_invocation"],
        "the invocation is audited",
    )
    assert invocation[0]["endpoint"] == "vendor-a"


def test_a_stream_whose_audit_write_fails_says_so_in_the_log(
    world: ProxyWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """The invocation record is written as the stream ends: when that fails, the caller's
    stream ends with an error event (not a cut body), and the log says why."""
    sink = world.proxy.audit

    class FailingInvocations:
        def write(self, record: Any) -> str:
            if record.stage.value == "model_invocation":
                raise OSError("audit store unavailable")
            return sink.write(record)

    world.proxy.audit = FailingInvocations()
    world.a.script.append(
        (
            "chunked",
            [_chunk({"role": "assistant", "content": "Hi"}, finish="stop"), b"data: [DONE]\n\n"],
        )
    )
    response = requests.post(
        f"{world.url}/v1/chat/completions",
        json={**REQUEST, "stream": True},
        headers={"Authorization": f"Bearer {NL_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200
    last = json.loads(response.text.strip().splitlines()[-1].removeprefix("data: "))
    assert last["error"]["code"] == "stream_failed"
    wait_until(lambda: "stream failed" in caplog.text, "the failure is logged")


CANARY_ORG = "00D5H0000000004UAA"


def _planted(world: ProxyWorld) -> tuple[CanarySet, list[tuple[Sighting, str]]]:
    planted = new_canaries(CANARY_ORG, datetime.now(UTC))
    seen: list[tuple[Sighting, str]] = []
    watch = CanaryWatch((planted,))
    world.proxy.canaries = lambda: watch
    world.proxy.on_canary = lambda sighting, evidence: seen.append((sighting, evidence))
    return planted, seen


def _value(planted: CanarySet, kind: str) -> str:
    return next(c.value for c in planted.canaries if c.kind == kind)


def test_a_canary_bound_for_a_vendor_is_blocked_and_raised(world: ProxyWorld) -> None:
    planted, seen = _planted(world)
    iban = _value(planted, "iban")
    spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))  # as people write it
    refused = world.post({"messages": [{"role": "user", "content": f"Pay {spaced} today"}]})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "canary_detected"
    assert world.a.requests == [] and world.b.requests == [], "nothing left"
    [(sighting, evidence)] = seen
    assert (sighting.org_id, sighting.canary.kind, sighting.path) == (
        CANARY_ORG,
        "iban",
        "external_prompt",
    )
    rejection = next(r for r in world.audit_records() if r["stage"] == "rejection")
    assert rejection["record_id"] == evidence and "leak canary (iban)" in rejection["reason"]
    assert iban not in json.dumps(world.audit_records()) and spaced not in refused.text
    in_region = world.post({"messages": [{"role": "user", "content": f"Pay {iban}"}]}, key=DE_KEY)
    assert in_region.status_code == 200, "the in-region model may read it (the vendor may not)"
    assert len(seen) == 1


def test_a_canary_in_an_answer_is_withheld_whole_or_split_across_chunks(
    world: ProxyWorld,
) -> None:
    planted, seen = _planted(world)
    phone, reference = _value(planted, "phone"), _value(planted, "reference")
    world.a.script.append(("json", _completion(f"Call {phone} about it")))
    withheld = world.post({"messages": [{"role": "user", "content": "Who do I call?"}]})
    assert withheld.status_code == 502 and withheld.json()["error"]["code"] == "canary_detected"
    assert phone not in withheld.text
    world.a.script.append(
        ("chunked", [_chunk({"role": "assistant", "content": f"See {reference[:5]}"}),
                     _chunk({"content": f"{reference[5:]} for details"}, finish="stop"),
                     b"data: [DONE]\n\n"])
    )  # fmt: skip
    streamed = requests.post(
        f"{world.url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Which file?"}], "stream": True},
        headers={"Authorization": f"Bearer {NL_KEY}"},
        timeout=10,
    )
    events = [
        json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")
    ]
    assert events[-1]["error"]["code"] == "canary_detected"
    assert reference[5:] not in streamed.text, "the chunk that completes it never goes out"
    assert [(s.canary.kind, s.path) for s, _ in seen] == [
        ("phone", "model_output"),
        ("reference", "model_output"),
    ]
    failed = [r for r in world.audit_records() if r["stage"] == "model_invocation"]
    assert [r["outcome"] for r in failed] == ["failed", "failed"]


def test_http_1_0_streams_end_with_the_connection_not_chunks(world: ProxyWorld) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()
    raw = _raw(
        world,
        b"POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer "
        + DE_KEY.encode()
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body,
    )
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0] and b"chunked" not in head.lower()
    assert rest.rstrip().endswith(b"data: [DONE]")


# --- the official client, as the apps that call the proxy use it ------------------------------


def _client(world: ProxyWorld, key: str = NL_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{world.url}/v1", api_key=key, max_retries=2, timeout=10)


def test_the_openai_client_gets_answers_streams_and_models(world: ProxyWorld) -> None:
    client = _client(world)
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Hello, I am {EMAIL}"}]
    )
    assert answer.choices[0].message.content == "ok"
    assert answer.model_extra and answer.model_extra["sovgw"]["endpoint"] == "vendor-a@eu-west-1"
    world.a.script.append(
        ("chunked", [_chunk({"role": "assistant", "content": "Hi "}),
                     _chunk({"content": "there"}, finish="stop"), b"data: [DONE]\n\n"])
    )  # fmt: skip
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hi there"
    assert client.models.retrieve("claude-3-5-haiku").id == "claude-3-5-haiku"
    assert "vendor-a" in [m.id for m in client.models.list()]


def test_logprobs_are_refused_with_the_reason_not_dropped(world: ProxyWorld) -> None:
    client = _client(world)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], logprobs=True
        )
    assert (refused.value.code, refused.value.param) == ("unsupported_parameter", "logprobs")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], top_logprobs=2
        )
    assert world.a.requests == [] and world.b.requests == [], "nothing left"
    answer = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], logprobs=False
    )
    assert answer.choices[0].message.content == "ok"


def test_the_openai_client_raises_the_errors_it_branches_on(world: ProxyWorld) -> None:
    client = _client(world)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(
            model="llama-9000", messages=[{"role": "user", "content": "hi"}]
        )
    assert missing.value.code == "model_not_found" and missing.value.param == "model"
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "Privileged & confidential: attorney-client"}],
        )
    assert denied.value.code == "policy_denied"
    with pytest.raises(openai.AuthenticationError) as refused:
        _client(world, key="sk-wrong").models.list()
    assert refused.value.code == "invalid_api_key"
    world.a.script.append(
        ("error", (400, {"error": {"message": "too long", "type": "invalid_request_error",
                               "param": "messages", "code": "context_length_exceeded"}}))
    )  # fmt: skip
    before = len(world.a.requests)
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    assert too_long.value.code == "context_length_exceeded"
    assert len(world.a.requests) == before + 1, "a 400 is not retried by the client"


def test_the_openai_client_sees_a_cut_stream_as_an_error(world: ProxyWorld) -> None:
    world.a.script.append(("raw", [_chunk({"role": "assistant", "content": "The refund"})]))
    stream = _client(world).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="before any finish_reason"):
        for _ in stream:
            pass


def test_an_alias_to_an_unknown_route_fails_the_configuration_at_start(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    config = json.loads(path.read_text())
    config["model_aliases"].append({"pattern": "gpt-5*", "route": "vendor-z"})
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'gpt-5\\*' of app faq-bot routes to 'vendor-z'"):
        load_proxy_config(path)


def test_a_tool_call_round_trip_reaches_the_in_region_endpoint(world: ProxyWorld) -> None:
    """Tool results, content parts and the developer role went to the local endpoint as a 502;
    now they arrive (pseudonymised) as vLLM would take them."""
    body = {
        **REQUEST,
        "messages": [
            {"role": "developer", "content": "Use the lookup tool."},
            {"role": "user", "content": [{"type": "text", "text": f"Find {EMAIL}."}]},
            *cast("list[dict[str, Any]]", REQUEST["messages"])[2:],
        ],
    }
    response = world.post(body, key=DE_KEY)
    assert response.status_code == 200, response.text
    received = world.served.received[-1][2]
    assert [m["role"] for m in received] == ["developer", "user", "assistant", "tool"]
    assert EMAIL not in json.dumps(received) and "[EMAIL_1]" in json.dumps(received)


def test_a_first_burst_finds_its_clients_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SageMaker clients exist before the port accepts, one per region: a burst of first
    requests builds none (it used to build one each, p99 5.5 s for the first burst)."""
    import boto3  # noqa: PLC0415

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    built: list[str] = []
    original = boto3.session.Session.client

    def counting(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        built.append(service)
        return original(self, service, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", counting)
    served = ServedEndpoints({("eu-central-1", "llm-a"), ("eu-central-1", "llm-b")})
    model_server = serve_in_background(served)
    proxy = build_proxy(
        load_proxy_config(_write_config(tmp_path)),
        audit=FileAuditSink(tmp_path / "audit"),
        sagemaker_endpoint_url=model_server.url,
        api_key_for=lambda endpoint: "k",
    )
    assert built == ["sagemaker-runtime"], "built once, at start"
    server = serve_proxy(proxy)
    try:
        body = {"messages": [{"role": "user", "content": "hello"}]}
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(
                pool.map(
                    lambda _: (
                        requests.post(
                            f"{server.url}/v1/chat/completions",
                            json=body,
                            headers={"Authorization": f"Bearer {DE_KEY}"},
                            timeout=10,
                        ).status_code
                    ),
                    range(16),
                )
            )
        assert statuses == [200] * 16
        assert built == ["sagemaker-runtime"], "the burst built no client"
    finally:
        server.stop()
        model_server.stop()


def test_an_image_part_never_reaches_an_external_tier(world: ProxyWorld) -> None:
    """DLP cannot read an image: the part is PRIVILEGED, so an external destination is
    refused it and an in-region one gets it."""
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    content = [{"type": "text", "text": "What does this scan say?"}, image]
    refused = world.post({"messages": [{"role": "user", "content": content}]})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "policy_denied"
    assert world.a.requests == [] and world.b.requests == []
    allowed = world.post({"messages": [{"role": "user", "content": content}]}, key=DE_KEY)
    assert allowed.status_code == 200 and allowed.json()["sovgw"]["level"] == "PRIVILEGED"
    assert allowed.json()["sovgw"]["pseudonymised"] == {"UNSCANNABLE_PART": 1}


def test_a_rule_that_allows_media_sends_an_image_to_its_vendor(tmp_path: Path) -> None:
    """The same request as above, with the NL rule saying ``media: allow``: the vendor gets
    the image as sent, and the text's rules still apply (the e-mail leaves pseudonymised)."""
    proxy_yaml = _write_config(tmp_path)
    policy_file = tmp_path / "policies" / "eu-nl.yaml"
    policy = json.loads(policy_file.read_text())
    policy["rules"][0]["media"] = "allow"
    policy_file.write_text(json.dumps(policy))
    capture = Capture()
    vendor = _capturing_server(capture)
    proxy = build_proxy(
        load_proxy_config(proxy_yaml),
        audit=FileAuditSink(tmp_path / "audit"),
        base_url_overrides=dict.fromkeys(("vendor-a", "vendor-b", "abroad"), f"{vendor.url}/v1"),
        api_key_for=lambda endpoint: "upstream-key",
    )
    server = serve_proxy(proxy)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    content = [{"type": "text", "text": f"What does this scan of {EMAIL} say?"}, image]
    try:
        response = requests.post(
            f"{server.url}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": content}]},
            headers={"Authorization": f"Bearer {NL_KEY}"},
            timeout=10,
        )
    finally:
        server.stop()
        vendor.stop()
    assert response.status_code == 200, response.text
    assert response.json()["sovgw"]["endpoint"] == "vendor-a@eu-west-1"
    sent = json.loads(capture.requests[0]["body"])["messages"][0]["content"]
    assert sent[1] == image and EMAIL not in sent[0]["text"]


def test_a_percent_encoded_value_leaves_pseudonymised(world: ProxyWorld) -> None:
    """pii-leak-benchmark's percent-encoded e-mails reached the vendor verbatim."""
    response = world.post({"messages": [{"role": "user", "content": "Reply to jan%40example.nl"}]})
    assert response.status_code == 200
    sent = world.a.requests[-1]["body"].decode()
    assert "jan%40example.nl" not in sent and "[EMAIL_1]" in sent


@pytest.mark.parametrize(
    "written",
    [
        base64.b64encode(b"jan.jansen@example.nl").decode(),  # reached the vendor (issue #20)
        base64.urlsafe_b64encode(b"mail jan.jansen@example.nl ?>").decode(),
        "jan.jansen=40example.nl",  # quoted-printable
        "j\u0430n.j\u0430nsen@example.nl",  # Cyrillic a (U+0430) for the Latin one
    ],
)
def test_an_encoded_or_disguised_value_leaves_pseudonymised(
    world: ProxyWorld, written: str
) -> None:
    response = world.post({"messages": [{"role": "user", "content": f"Reply to {written} today"}]})
    assert response.status_code == 200
    sent = world.a.requests[-1]["body"].decode()
    assert written not in sent and "[EMAIL_1]" in sent
    assert json.loads(sent)["messages"][-1]["content"] == "Reply to [EMAIL_1] today"


@pytest.mark.parametrize(
    "messages",
    [
        [  # reached the vendor verbatim (issue #20)
            {"role": "user", "content": "Reply to jan.jansen@exa"},
            {"role": "user", "content": "mple.nl today"},
        ],
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Reply to jan.jansen@exa"},
                    {"type": "text", "text": "mple.nl today"},
                ],
            }
        ],
    ],
)
def test_a_value_split_across_strings_leaves_pseudonymised_and_comes_back_whole(
    world: ProxyWorld, messages: list[dict[str, Any]]
) -> None:
    world.a.script.append(("json", _completion("I will write to [EMAIL_1].")))
    response = world.post({"messages": messages})
    assert response.status_code == 200
    sent = world.a.requests[-1]["body"].decode()
    assert "jan.jansen@exa" not in sent and "mple.nl" not in sent and "[EMAIL_1]" in sent
    assert response.json()["choices"][0]["message"]["content"] == (
        "I will write to jan.jansen@example.nl."
    )
    assert response.json()["sovgw"]["pseudonymised"] == {"EMAIL": 1}


def test_a_callers_own_placeholder_text_is_never_restored_into_a_value(world: ProxyWorld) -> None:
    """The caller writes "[EMAIL_1]" itself and also an address: the address gets another
    placeholder, so the answer's literal "[EMAIL_1]" stays literal (it came back as the
    address before)."""
    world.a.script.append(("json", _completion("Template [EMAIL_1] noted; contact [EMAIL_2].")))
    text = f"Fill the template field [EMAIL_1] and contact {EMAIL}."
    response = world.post({"messages": [{"role": "user", "content": text}]})
    sent = world.a.requests[-1]["body"].decode()
    assert "[EMAIL_1]" in sent and "[EMAIL_2]" in sent and EMAIL not in sent
    answer = response.json()["choices"][0]["message"]["content"]
    assert answer == f"Template [EMAIL_1] noted; contact {EMAIL}."


def test_values_in_other_chunk_fields_are_removed_whole_or_joined(world: ProxyWorld) -> None:
    """pii-leak-benchmark's "sse-json-field" carrier: a value in a chunk's other fields, or
    split across two fields of a chunk, or across two chunks on one path."""

    def chunk(**fields: Any) -> bytes:
        base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        body = base | fields | {"choices": [{"index": 0, "delta": {"content": "ok "}}]}
        return f"data: {json.dumps(body)}\n\n".encode()

    world.a.script.append(
        ("chunked", [
            chunk(system_fingerprint=NEVER_SENT),
            chunk(model="call 212-555-", system_fingerprint="0143"),
            chunk(trace="4242-4242-"), chunk(trace="4242-4242"),
            _chunk({"content": "done"}, finish="stop"), b"data: [DONE]\n\n",
        ])
    )  # fmt: skip
    response = requests.post(
        f"{world.url}/v1/chat/completions",
        json={**REQUEST, "stream": True},
        headers={"Authorization": f"Bearer {NL_KEY}"},
        timeout=10,
    )
    events = [json.loads(x[6:]) for x in response.text.splitlines() if x.startswith("data: {")]
    fields = json.dumps([{k: v for k, v in e.items() if k != "choices"} for e in events])
    joined = "".join(str(e.get("model", "")) + str(e.get("system_fingerprint", "")) for e in events)
    assert NEVER_SENT not in fields and "212-555-0143" not in joined
    assert all(e["id"] == "c1" and e["object"] == "chat.completion.chunk" for e in events[:4])
    traces = "".join(str(e.get("trace", "")) for e in events)
    assert "4242-4242-4242-4242" not in traces and "[REMOVED]" in traces
