"""The OpenAI-compatible HTTP face of the proxy: ``/v1/chat/completions`` (plain and SSE) and
``/v1/models``. Runs locally (``sovgw proxy``) and in Lambda behind the Lambda Web Adapter with
response streaming."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from sovgw.httpd import BackgroundServer, PreforkServer, QuietHandler
from sovgw.logs import make_logger
from sovgw.proxy.core import ProxyError, SovereignProxy
from sovgw.sse import DONE, sse_event

logger = make_logger()
PURPOSE_HEADER = "X-Sovgw-Purpose"
CLIENT_TIMEOUT_S = 30.0
JURISDICTION_HEADER = "X-Sovgw-Jurisdiction"


def make_handler(proxy: SovereignProxy) -> type[QuietHandler]:
    max_body = proxy.config.max_body_bytes

    class ProxyHandler(QuietHandler):
        # Every read and write on the caller's socket: a client that stops sending its
        # headers or body (or stops reading) frees its thread after this, not never.
        timeout = CLIENT_TIMEOUT_S

        def _error(self, error: ProxyError, headers: Mapping[str, str] | None = None) -> None:
            extra = dict(headers or {})
            if error.status == 401:
                extra["WWW-Authenticate"] = 'Bearer realm="sovgw"'
            if error.status in {429, 503}:
                wait = error.retry_after_s if error.retry_after_s is not None else 30
                extra["Retry-After"] = str(math.ceil(wait))
            self.send_json(error.status, error.body(), extra)

        def _route(self) -> str:
            """The path without its query string (``?api-version=...`` and the like are
            accepted and ignored: nothing the proxy answers depends on them)."""
            return urlsplit(self.path).path.rstrip("/") or "/"

        def _no_route(self, method: str) -> None:
            self._error(
                ProxyError(404, "invalid_request_error", f"Invalid URL ({method} {self._route()})")
            )

        def do_GET(self) -> None:
            route = self._route()
            if route == "/health":
                self.send_json(200, {"status": "ok"})
                return
            if route != "/v1/models" and not route.startswith("/v1/models/"):
                self._no_route("GET")
                return
            try:
                app = proxy.authenticate(self.headers.get("Authorization"))
                if route == "/v1/models":
                    self.send_json(200, {"object": "list", "data": proxy.models(app)})
                else:
                    self.send_json(
                        200, proxy.model(app, unquote(route.removeprefix("/v1/models/")))
                    )
            except ProxyError as error:
                self._error(error)

        def _not_allowed(self) -> None:
            self.close_connection = True  # any body stays unread: never parse it as a request
            self._error(
                ProxyError(
                    405,
                    "invalid_request_error",
                    f"{self.command} is not allowed on {self._route()}",
                    code="method_not_allowed",
                ),
                {"Allow": "GET, POST"},
            )

        do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _not_allowed

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """What ``http.server`` refuses itself (a malformed request line, headers too long,
            an unknown method) in OpenAI's JSON shape too, never its HTML page."""
            self.close_connection = True
            status = HTTPStatus(code)
            self._error(
                ProxyError(
                    code,
                    "invalid_request_error",
                    message or status.phrase,
                    code=status.phrase.lower().replace(" ", "_"),
                )
            )

        def _body_length(self) -> int | None:
            """Content-Length, or None after answering why the body cannot be read."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                problem, status, code = "send the body with Content-Length", 411, "length_required"
            else:
                raw = self.headers.get("Content-Length") or "0"
                if raw.isdigit():
                    return int(raw)
                problem, status, code = "Content-Length is not a number", 400, "invalid_header"
            self.close_connection = True  # what follows is not a request: never parse it
            self._error(ProxyError(status, "invalid_request_error", problem, code=code))
            return None

        def do_POST(self) -> None:
            length = self._body_length()
            if length is None:
                return
            if self._route() != "/v1/chat/completions":
                self.close_connection = True
                self._no_route("POST")
                return
            if length > max_body:
                self.close_connection = True  # the unread body must not be parsed as a request
                self._error(
                    ProxyError(
                        413,
                        "invalid_request_error",
                        f"body over {max_body} bytes",
                        code="request_too_large",
                    )
                )
                return
            body = self.rfile.read(length) if length else b""
            if len(body) < length:  # the client went away (or timed out) mid-body
                self.close_connection = True
                return
            try:
                app = proxy.authenticate(self.headers.get("Authorization"))
                prepared = proxy.prepare(
                    app,
                    body,
                    purpose=self.headers.get(PURPOSE_HEADER),
                    jurisdiction_header=self.headers.get(JURISDICTION_HEADER),
                )
                if not prepared.stream:
                    answer = proxy.complete(prepared)
                    self.send_json(200, answer, _route_headers(answer["sovgw"]))
                    return
                endpoint, chunks = proxy.stream(prepared)
            except ProxyError as error:
                logger.info("proxy refused", status=error.status, kind=error.kind)
                self._error(error)
                return
            headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            headers |= _route_headers(prepared.summary(endpoint, {}))
            # HTTP/1.0 has no chunked encoding: the stream ends when the connection closes.
            chunked = self.request_version != "HTTP/1.0"
            write = self.write_chunk if chunked else self.wfile.write
            if chunked:
                self.start_chunked(200, headers)
            else:
                self.close_connection = True
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
            try:
                for chunk in chunks:
                    write(sse_event(chunk))
                write(sse_event(DONE))
                if chunked:
                    self.end_chunked()
                self.wfile.flush()
            except OSError:
                self.close_connection = True  # the caller went away; the audit is written

    return ProxyHandler


def _route_headers(summary: Mapping[str, Any]) -> dict[str, str]:
    return {
        "X-Sovgw-Request-Id": str(summary["request_id"]),
        "X-Sovgw-Rule": str(summary["rule_id"]),
        "X-Sovgw-Endpoint": str(summary["endpoint"]),
        "X-Sovgw-Level": str(summary["level"]),
    }


def serve_proxy(proxy: SovereignProxy, host: str = "127.0.0.1", port: int = 0) -> BackgroundServer:
    """Start the proxy on ``host:port`` in the background; the caller stops it."""
    return BackgroundServer(make_handler(proxy), host, port).start()


def run_proxy_server(
    build: Callable[[], SovereignProxy],
    host: str,
    port: int,
    workers: int,
    announce: Callable[[str], None],
) -> int:
    """Serve until stopped, in this process or in ``workers`` pre-forked ones (each builds
    its own proxy after the fork); ``announce`` gets the URL once the port listens, which is
    after every worker has built (and warmed) its proxy."""
    if workers > 1:
        prefork = PreforkServer(lambda: make_handler(build()), workers, host, port)
        return prefork.run(lambda: announce(prefork.url))
    server = serve_proxy(build(), host, port)
    announce(server.url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
    return 0
