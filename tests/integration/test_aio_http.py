"""The event loop's HTTP client against a real loopback server: chunked and sized answers,
kept-alive connections, the bounds on size and time, and failures that say what happened."""

from __future__ import annotations

import asyncio
import socket
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


def test_nothing_listening_is_a_connect_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(HttpFailure, match="connect failed"):
        asyncio.run(_client().post(f"http://127.0.0.1:{port}/", b"", {}))


def test_a_kept_connection_that_reads_nothing_more_is_replaced(server: BackgroundServer) -> None:
    """A kept connection that has gone dead (here: shut for reading, as a close by the server
    looks to a reader that has not looked yet) costs no failure: the request goes out again
    on a new connection."""
    client = _client()

    async def exchange() -> tuple[int, bytes]:
        await client.post(f"{server.url}/other", b"", {})
        ((_, writer),) = next(iter(client._idle.values()))
        writer.transport.get_extra_info("socket").shutdown(socket.SHUT_RD)
        answer = await client.post(f"{server.url}/chunked", b"again", {})
        return answer.status, answer.body

    assert asyncio.run(exchange()) == (200, b'{"echo": "again"}')
