"""What other libraries log passes the same redaction as the gateway's own lines.

uvicorn logs an application's exception, with its text, to ``uvicorn.error``. The proxy
configures no handler for it (``log_config=None``), so Python's last-resort handler writes it
to stderr: in Lambda, the function's log. Each case runs in a fresh interpreter, as the proxy
does (pytest's own log handlers would take the line here).
"""

from __future__ import annotations

import subprocess
import sys

EMAIL = "jan.jansen@example.nl"

_SERVE_ONE_FAILED_ANSWER = f"""
import http.client, sys, threading
import uvicorn
from sovgw.proxy import http_server

async def fails_mid_answer(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"partial", "more_body": True}})
    raise ValueError("no contact for {EMAIL}")

if sys.argv[1] == "proxy":
    server = http_server._server(fails_mid_answer, http_server.HttpLimits())
else:
    server = uvicorn.Server(uvicorn.Config(fails_mid_answer, log_config=None, log_level="warning"))
listener = http_server._listener("127.0.0.1", 0)
thread = threading.Thread(target=server.run, kwargs={{"sockets": [listener]}}, daemon=True)
thread.start()
while not server.started:
    thread.join(0.01)
connection = http.client.HTTPConnection("127.0.0.1", listener.getsockname()[1], timeout=10)
connection.request("GET", "/")
try:
    connection.getresponse().read()
except http.client.IncompleteRead:
    print("cut short")  # uvicorn logged the exception, then closed the connection
server.should_exit = True
thread.join(timeout=10)
"""


def _stderr_of(server: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_ONE_FAILED_ANSWER, server],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "cut short"
    assert "Exception in ASGI application" in done.stderr
    return done.stderr


def test_uvicorn_alone_writes_the_exceptions_text() -> None:
    """The control: the same server without the gateway's redaction."""
    assert f"ValueError: no contact for {EMAIL}" in _stderr_of("bare")


def test_the_proxys_server_redacts_it() -> None:
    written = _stderr_of("proxy")
    assert EMAIL not in written
    assert "ValueError: no contact for [EMAIL_" in written
