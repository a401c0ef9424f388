"""The proxy's HTTP/1.1 as any client may speak it, over raw sockets: chunked bodies, keep-alive
and pipelining, HTTP/1.0, limits answered before the body is read, slow and silent clients,
malformed requests, and a thousand connections at once. Each refusal is OpenAI's JSON error,
and the server goes on serving."""

from __future__ import annotations

import json
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from model_serving.endpoint_server import ServedEndpoints, serve_in_background
from sovgw.adapters.files import FileAuditSink
from sovgw.app.proxy import build_proxy
from sovgw.proxy.apps import load_proxy_config
from sovgw.proxy.http_server import HttpLimits, serve_proxy
from tests.conftest import ROOT

KEY = "sk-sovgw-demo-contoso-legal"  # the demo config's eu-de app: in-region SageMaker only
CLIENT_TIMEOUT_S = 1.0
MAX_BODY = 4096


@dataclass
class Served:
    host: str
    port: int
    audit_dir: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=10)

    def serves(self) -> bool:
        """A fresh client still gets a chat answer."""
        response = requests.post(
            f"{self.url}/v1/chat/completions",
            json=_chat("still there?"),
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        )
        return response.status_code == 200 and bool(response.json()["choices"])


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    config = load_proxy_config(ROOT / "config" / "proxy.yaml").model_copy(
        update={"max_body_bytes": MAX_BODY}
    )
    endpoints = ServedEndpoints(
        {(e.region, e.name) for j in config.gateway_config.jurisdictions for e in j.endpoints}
    )
    model_server = serve_in_background(endpoints)
    proxy = build_proxy(
        config,
        audit=FileAuditSink(tmp_path / "audit"),
        sagemaker_endpoint_url=model_server.url,
        api_key_for=lambda endpoint: None,
    )
    limits = HttpLimits(client_timeout_s=CLIENT_TIMEOUT_S, keep_alive_s=1)
    server = serve_proxy(proxy, limits=limits)
    host, port = server.url.removeprefix("http://").split(":")
    try:
        yield Served(host, int(port), tmp_path / "audit")
    finally:
        server.stop()
        model_server.stop()


def _chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}


def _post(body: bytes, version: str = "HTTP/1.1", extra: str = "") -> bytes:
    return (
        f"POST /v1/chat/completions {version}\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Reader:
    """Reads HTTP/1.1 responses off one connection, one at a time (Content-Length, chunked,
    or until close), so pipelined answers can be told apart."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def _fill(self) -> bool:
        piece = self.conn.recv(65536)
        self.buffer += piece
        return bool(piece)

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise EOFError("closed mid-response")
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise EOFError("closed mid-line")
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def closed(self) -> bool:
        """True when the server has closed the connection (and sent nothing more)."""
        return not self.buffer and not self._fill()

    def next(self) -> Response:
        status = int(self._line().split()[1])
        headers: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            return Response(status, headers, self._take(int(headers["content-length"])))
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._line(), 16):
                body += self._take(size)
                self._take(2)
            self._line()
            return Response(status, headers, body)
        while self._fill():
            pass
        body, self.buffer = self.buffer, b""
        return Response(status, headers, body)


def _error(response: Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return error


def test_a_chunked_body_is_read_whole_and_answered(served: Served) -> None:
    body = json.dumps(_chat("Summarise the case of max.mueller@example.de")).encode()
    pieces = [body[:7], body[7:40], body[40:]]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    with served.connect() as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + KEY.encode()
            + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked
            + _post(json.dumps(_chat("and again")).encode())  # the same connection goes on
        )
        reader = Reader(conn)
        first, second = reader.next(), reader.next()
    assert first.status == 200, first.body
    assert first.json()["sovgw"]["endpoint"].endswith("@eu-central-1")
    assert second.status == 200


def test_a_chunked_body_over_the_limit_is_refused_once_it_passes_it(served: Served) -> None:
    with served.connect() as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + KEY.encode()
            + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(3):  # 3 x 2 KiB passes the 4 KiB limit; the rest is never sent
            conn.sendall(b"800\r\n" + b"a" * 2048 + b"\r\n")
        reader = Reader(conn)
        refused = reader.next()
        assert refused.status == 413 and _error(refused)["code"] == "request_too_large"
        assert reader.closed(), "the rest of the body is never parsed as a request"
    assert served.serves()


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    served: Served,
) -> None:
    with served.connect() as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"
        )
        refused = Reader(conn).next()  # answered with no body byte sent
    assert refused.status == 413 and _error(refused)["code"] == "request_too_large"


def test_keep_alive_and_pipelined_requests_are_answered_in_order(served: Served) -> None:
    texts = ["first", "second", "third"]
    with served.connect() as conn:
        conn.sendall(
            b"".join(_post(json.dumps(_chat(t, seed=i)).encode()) for i, t in enumerate(texts))
        )
        reader = Reader(conn)
        answers = [reader.next() for _ in texts]
        conn.sendall(
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + KEY.encode()
            + b"\r\n\r\n"
        )
        models = reader.next()
    assert [a.status for a in answers] == [200, 200, 200]
    request_ids = [a.headers["x-sovgw-request-id"] for a in answers]
    assert len(set(request_ids)) == 3
    assert models.status == 200 and models.json()["object"] == "list"


def test_http_1_0_gets_a_length_and_a_closed_connection(served: Served) -> None:
    with served.connect() as conn:
        conn.sendall(_post(json.dumps(_chat("hello")).encode(), version="HTTP/1.0"))
        reader = Reader(conn)
        answer = reader.next()
        assert answer.status == 200 and "content-length" in answer.headers
        assert reader.closed()


def test_headers_that_come_too_slowly_get_a_408_and_the_connection_closed(
    served: Served,
) -> None:
    with served.connect() as conn:
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        started = time.monotonic()
        reader = Reader(conn)
        refused = reader.next()
        waited = time.monotonic() - started
        assert reader.closed()
    assert refused.status == 408 and _error(refused)["code"] == "request_timeout"
    assert CLIENT_TIMEOUT_S * 0.9 <= waited < CLIENT_TIMEOUT_S + 5
    assert served.serves()


def test_a_body_shorter_than_its_length_gets_a_408_not_a_held_worker(served: Served) -> None:
    with served.connect() as conn:
        conn.sendall(_post(b'{"model": "auto"')[:-3])  # the last bytes never come
        reader = Reader(conn)
        refused = reader.next()
        assert refused.status == 408 and _error(refused)["code"] == "request_timeout"
        assert reader.closed()
    assert served.serves()


def test_a_connection_that_sends_nothing_is_closed(served: Served) -> None:
    with served.connect() as conn:
        assert Reader(conn).closed(), "closed by the server after its idle time"


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /v1/models HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, "invalid_header"),
        (b"GET /v1/models HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "bad_request"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 401, "invalid_api_key"),
        (b"OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"),
        (b"GET /v1/models/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n", 401, "invalid_api_key"),
    ],
)  # fmt: skip
def test_malformed_requests_get_json_and_the_server_goes_on(
    served: Served, request_bytes: bytes, status: int, code: str
) -> None:
    with served.connect() as conn:
        conn.sendall(request_bytes)
        response = Reader(conn).next()
    assert response.status == status and _error(response)["code"] == code
    assert served.serves()


def test_an_invalid_json_body_names_the_problem_and_keeps_the_connection(served: Served) -> None:
    with served.connect() as conn:
        conn.sendall(_post(b"{not json") + _post(json.dumps(_chat("fine")).encode()))
        reader = Reader(conn)
        refused, answered = reader.next(), reader.next()
    assert refused.status == 400 and "JSON" in _error(refused)["message"]
    assert answered.status == 200


def test_a_thousand_connections_at_once_are_all_answered(served: Served) -> None:
    """1,000 connections open together (the fd limit raised for both ends in this process;
    none is read before all have sent), each sends one request (every tenth a chat completion through the model endpoint), and
    every one gets its JSON answer; then the server still serves."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    models = (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n\r\n"
    )
    chat = _post(json.dumps(_chat("burst")).encode())
    connections: list[socket.socket] = []
    try:
        selector = selectors.DefaultSelector()
        received: dict[int, bytes] = {}
        for index in range(1000):
            # Each sends at once: one left silent past the idle time (1 s here) is closed.
            conn = served.connect()
            connections.append(conn)
            conn.sendall(chat if index % 10 == 0 else models)
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ, index)
            received[index] = b""
        complete: set[int] = set()
        deadline = time.monotonic() + 120
        while len(complete) < len(connections) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                index = key.data
                piece = key.fileobj.recv(65536)  # type: ignore[union-attr]
                received[index] += piece
                head, _, body = received[index].partition(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
                    None,
                )  # fmt: skip
                if not piece or (length is not None and len(body) >= length):
                    complete.add(index)
                    selector.unregister(key.fileobj)
        statuses = [received[i].split(b" ", 2)[1] for i in range(len(connections)) if received[i]]
        assert len(complete) == 1000 and statuses.count(b"200") == 1000
    finally:
        for conn in connections:
            conn.close()
    assert served.serves()
