"""The OpenAI-compatible HTTP face of the proxy: ``/v1/chat/completions`` (plain and SSE) and
``/v1/models``. Runs locally (``sovgw proxy``) and in Lambda behind the Lambda Web Adapter with
response streaming."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from sovgw.httpd import BackgroundServer, PreforkServer, QuietHandler
from sovgw.logs import make_logger
from sovgw.proxy.core import ProxyError, SovereignProxy
from sovgw.sse import DONE, sse_event

logger = make_logger()
PURPOSE_HEADER = "X-Sovgw-Purpose"
JURISDICTION_HEADER = "X-Sovgw-Jurisdiction"


def make_handler(proxy: SovereignProxy) -> type[QuietHandler]:
    max_body = proxy.config.max_body_bytes

    class ProxyHandler(QuietHandler):
        def _error(self, error: ProxyError, headers: Mapping[str, str] | None = None) -> None:
            extra = dict(headers or {})
            if error.status == 401:
                extra["WWW-Authenticate"] = 'Bearer realm="sovgw"'
            if error.status == 503:
                extra["Retry-After"] = "30"
            self.send_json(error.status, error.body(), extra)

        def do_GET(self) -> None:
            if self.path == "/health":
                self.send_json(200, {"status": "ok"})
                return
            if self.path != "/v1/models":
                self.send_json(404, {"error": {"type": "not_found", "message": "no such route"}})
                return
            try:
                app = proxy.authenticate(self.headers.get("Authorization"))
            except ProxyError as error:
                self._error(error)
                return
            self.send_json(200, {"object": "list", "data": proxy.models(app)})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != "/v1/chat/completions":
                self.close_connection = True
                self.send_json(404, {"error": {"type": "not_found", "message": "no such route"}})
                return
            if length > max_body:
                self.close_connection = True  # the unread body must not be parsed as a request
                self._error(ProxyError(413, "invalid_request_error", f"body over {max_body} bytes"))
                return
            body = self.rfile.read(length) if length else b""
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
            self.start_chunked(200, headers)
            try:
                for chunk in chunks:
                    self.write_chunk(sse_event(chunk))
                self.write_chunk(sse_event(DONE))
                self.end_chunked()
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
    its own proxy after the fork); ``announce`` gets the URL once the port listens."""
    if workers > 1:
        prefork = PreforkServer(lambda: make_handler(build()), workers, host, port)
        announce(prefork.url)
        return prefork.run()
    server = serve_proxy(build(), host, port)
    announce(server.url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
    return 0
