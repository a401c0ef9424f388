"""The event loop's HTTP client against a real loopback server: chunked and sized answers,
kept-alive connections, the bounds on size and time, and failures that say what happened."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sovgw.adapters.aio_http import AsyncHttp, HttpFailure
from sovgw.httpd import BackgroundServer, QuietHandler


class Handler(QuietHandler):
    def do_POST(self) -> None:
        body = self.read_body() or b""
        if self.path == "/chunked":
            self.start_chunked(200, {"Content-Type": "application/json"})
            for piece in (b'{"echo": "', body, b'"}'):
                self.write_chunk(piece)
            self.end_chunked()
        elif self.path == "/big":
            self.send_json(200, {"text": "x" * 5000})
        elif self.path == "/slow":
            time.sleep(1.0)
            self.send_json(200, {"late": True})
        elif self.path == "/cut":  # promises 100 bytes, sends 10, closes
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
        else:
            self.send_json(404, {"error": {"code": "nope"}}, {"X-Seen": body.decode()})


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    started = BackgroundServer(Handler).start()
    yield started
    started.stop()


def _client(read_timeout_s: float = 5.0) -> AsyncHttp:
    return AsyncHttp(connect_timeout_s=2.0, read_timeout_s=read_timeout_s)


def test_chunked_and_sized_answers_come_whole_on_one_connection(server: BackgroundServer) -> None:
    client = _client()

    async def exchange() -> list[tuple[int, bytes, dict[str, str]]]:
        answers = []
        for path in ("/chunked", "/other", "/chunked"):
            answer = await client.post(f"{server.url}{path}", b"hello", {"X-A": "1"})
            answers.append((answer.status, answer.body, answer.headers))
        return answers

    answers = asyncio.run(exchange())
    assert answers[0][:2] == (200, b'{"echo": "hello"}')
    assert answers[1][0] == 404 and answers[1][2]["x-seen"] == "hello"
    assert answers[2][:2] == (200, b'{"echo": "hello"}')
    assert sum(len(idle) for idle in client._idle.values()) == 1  # one connection, reused


def test_an_answer_over_the_limit_is_refused(server: BackgroundServer) -> None:
    with pytest.raises(HttpFailure, match="over 1000 bytes"):
        asyncio.run(_client().post(f"{server.url}/big", b"", {}, limit=1000))


def test_a_slow_answer_times_out(server: BackgroundServer) -> None:
    with pytest.raises(HttpFailure, match="TimeoutError"):
        asyncio.run(_client(read_timeout_s=0.2).post(f"{server.url}/slow", b"", {}))


def test_an_answer_cut_short_is_a_failure_not_a_body(server: BackgroundServer) -> None:
    with pytest.raises(HttpFailure, match="closed before the answer ended"):
        asyncio.run(_client().post(f"{server.url}/cut", b"", {}))


def test_a_header_with_a_line_break_is_never_sent(server: BackgroundServer) -> None:
    """A key with a line break (a damaged secret) must not add headers of its own."""
    with pytest.raises(HttpFailure, match="line break"):
        asyncio.run(
            _client().post(f"{server.url}/other", b"", {"Authorization": "Bearer k\r\nX-Evil: 1"})
        )


def test_nothing_listening_is_a_connect_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(HttpFailure, match="connect failed"):
        asyncio.run(_client().post(f"http://127.0.0.1:{port}/", b"", {}))


def _read_request(connection: socket.socket) -> bytes:
    """One request with a Content-Length body, read whole from ``connection``."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += connection.recv(65536)
    return body


def test_a_kept_connection_the_server_drops_is_replaced_once() -> None:
    """A server that closed a kept connection as the next request arrived (it answered
    nothing) costs no failure: the request goes out once more, on a new connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def serve() -> None:
        for number in (1, 2):
            connection, _ = listener.accept()
            connections.append(number)
            with connection:
                body = _read_request(connection)
                answer = b'{"echo": "' + body + b'"}'
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)
                )
                if number == 1:
                    _read_request(connection)  # the next request on it: dropped unanswered

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    client = _client()

    async def exchange() -> list[bytes]:
        return [(await client.post(url, word, {})).body for word in (b"first", b"second")]

    try:
        assert asyncio.run(exchange()) == [b'{"echo": "first"}', b'{"echo": "second"}']
    finally:
        server.join(timeout=10)
        listener.close()
    assert connections == [1, 2]
