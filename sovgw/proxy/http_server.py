"""The OpenAI-compatible HTTP face of the proxy: ``/v1/chat/completions`` (plain and SSE) and
``/v1/models``, an ASGI app served by uvicorn (httptools parser, uvloop).

Why uvicorn and a plain ASGI callable: uvicorn's HTTP/1.1 (keep-alive, pipelining, chunked
request bodies, HTTP/1.0) is kept by a large user base, and the same app runs under the Lambda
Web Adapter and in pre-forked worker processes. Four routes need no framework: a router and
request objects per call would only add CPU to every request (measured in
``benchmarks/proxy``). What uvicorn lacks for a proxy facing any client is added here: every
refusal in OpenAI's JSON error shape (uvicorn answers parser errors with plain text), a bound
on header bytes (431) and deadlines for headers and body (408) against slow clients.

The pipeline runs on the event loop where nothing in it blocks: a request's scanning and
routing, and the whole answer of an upstream that can be awaited. Blocking work (audit writes,
reading the canary watch, a large body's scanning, SageMaker's client, streams) goes to a pool
of threads; a stream holds one to its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sovgw.httpd import PreforkServer
from sovgw.logs import make_logger, redact_library_logs, take_sightings, watch_canaries
from sovgw.proxy.core import ProxyError, SovereignProxy
from sovgw.sse import DONE, sse_event

logger = make_logger()
PURPOSE_HEADER = "X-Sovgw-Purpose"
JURISDICTION_HEADER = "X-Sovgw-Jurisdiction"
JSON_TYPE = "application/json;charset=UTF-8"
RAW_READ_SLACK = 1_048_576

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class HttpLimits:
    """What one client may cost a worker: bytes of headers, seconds to send them or the body
    (or to read a streamed answer), idle seconds between requests, and threads running the
    pipeline at once, a stream holding one to its end (further requests wait for one, their
    connections held by the loop)."""

    max_header_bytes: int = 65_536
    client_timeout_s: float = 30.0
    keep_alive_s: int = 15
    pipeline_threads: int = 256


class _Refusal(Exception):
    """Raised in a parser callback to stop reading a request the server will not serve."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _error_bytes(status: int, code: str, message: str) -> bytes:
    """A whole HTTP response (closing the connection) with OpenAI's error body."""
    body = json.dumps(
        ProxyError(status, "invalid_request_error", message, code=code).body()
    ).encode()
    phrase = HTTPStatus(status).phrase
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json;charset=UTF-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


def _headers_too_large(limits: HttpLimits) -> _Refusal:
    return _Refusal(
        431, "request_header_fields_too_large", f"headers over {limits.max_header_bytes} bytes"
    )


def protocol_for(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the limits above and JSON refusals."""

    class ProxyProtocol(HttpToolsProtocol):
        _header_bytes = 0
        _raw_header_bytes = 0
        _header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            # uvicorn arms its idle timer only after a response: a client that connects and
            # sends nothing would hold the connection for ever.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def _disarm_header_deadline(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_bytes = self._raw_header_bytes = 0
            self._disarm_header_deadline()
            self._header_deadline = self.loop.call_later(
                limits.client_timeout_s,
                self._refuse,
                _Refusal(408, "request_timeout", "the request's headers came too slowly"),
            )

        def _count(self, size: int) -> None:
            self._header_bytes += size
            if self._header_bytes > limits.max_header_bytes:
                raise _headers_too_large(limits)

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._disarm_header_deadline()
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            self._unset_keepalive_if_required()
            if self._header_deadline is not None:
                # Headers still arriving: the parser keeps a header whole until its line ends,
                # so bound the raw bytes too (with room for a body sent in the same read).
                self._raw_header_bytes += len(data)
                if self._raw_header_bytes > limits.max_header_bytes + RAW_READ_SLACK:
                    self._refuse(_headers_too_large(limits))
                    return
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                pass  # no upgrade is offered: the request is served as a plain one
            except httptools.HttpParserInvalidMethodError:
                self._refuse(_Refusal(501, "not_implemented", "the method is not implemented"))
            except httptools.HttpParserError as error:
                refusal = error.__context__
                if not isinstance(refusal, _Refusal):
                    about_headers = (
                        "header" in str(error).lower() or "content-length" in str(error).lower()
                    )
                    code = "invalid_header" if about_headers else "bad_request"
                    refusal = _Refusal(400, code, f"invalid HTTP request: {error}")
                self._refuse(refusal)

        def _refuse(self, refusal: _Refusal) -> None:
            self._disarm_header_deadline()
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or cycle.response_complete or not cycle.response_started:
                self.transport.write(_error_bytes(refusal.status, refusal.code, str(refusal)))
            if cycle is not None and not cycle.response_complete:
                # The app may be reading this request's body: it now reads a disconnect and
                # answers nothing more (uvicorn drops any later write to a closed caller).
                cycle.disconnected = True
                cycle.message_event.set()
            self.transport.close()

    return ProxyProtocol


class ProxyApp:
    """The ASGI callable: routes, body reading with limits, and the pipeline on threads."""

    def __init__(self, proxy: SovereignProxy, limits: HttpLimits) -> None:
        self.proxy = proxy
        self.limits = limits
        self._pool = ThreadPoolExecutor(limits.pipeline_threads, thread_name_prefix="sovgw-proxy")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        exchange = _Exchange(scope, receive, send, self.limits.client_timeout_s)
        try:
            await self._serve(exchange)
        except ProxyError as error:
            if exchange.started:
                raise
            await exchange.error(error)
        except _ClientGone:
            return
        except Exception:
            _log_watched(self.proxy, logger.exception, "proxy failed", path=scope.get("path"))
            if exchange.started:
                raise
            await exchange.error(ProxyError(500, "server_error", "the proxy failed"), close=True)

    async def _run[T](self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    async def _serve(self, exchange: _Exchange) -> None:
        method, route = exchange.scope["method"], exchange.route
        if method not in {"GET", "POST"}:
            raise ProxyError(
                405,
                "invalid_request_error",
                f"{method} is not allowed on {route}",
                code="method_not_allowed",
                headers={"Allow": "GET, POST"},
                close=True,  # any body stays unread
            )
        if method == "GET" and route == "/health":
            await exchange.json(200, {"status": "ok"})
        elif method == "GET" and (route == "/v1/models" or route.startswith("/v1/models/")):
            await exchange.json(200, await self._run(lambda: self._models(exchange, route)))
        elif method == "POST" and route == "/v1/chat/completions":
            await self._chat(exchange)
        else:
            raise ProxyError(
                404, "invalid_request_error", f"Invalid URL ({method} {route})", close=True
            )

    def _models(self, exchange: _Exchange, route: str) -> dict[str, Any]:
        app = self.proxy.authenticate(exchange.header("authorization"))
        if route == "/v1/models":
            return {"object": "list", "data": self.proxy.models(app)}
        return self.proxy.model(app, unquote(route.removeprefix("/v1/models/")))

    async def _chat(self, exchange: _Exchange) -> None:
        body = await exchange.body(self.proxy.config.max_body_bytes)
        try:
            headers, answer = await self._open_answer(exchange, body)
        except ProxyError as error:
            _log_watched(
                self.proxy, logger.info, "proxy refused", status=error.status, kind=error.kind
            )
            raise
        if isinstance(answer, dict):
            await exchange.json(200, answer, headers)
            return
        await self._stream(exchange, headers, answer)

    async def _open_answer(
        self, exchange: _Exchange, body: bytes
    ) -> tuple[dict[str, str], dict[str, Any] | Iterator[dict[str, Any]]]:
        proxy = self.proxy
        app = proxy.authenticate(exchange.header("authorization"))
        purpose = exchange.header(PURPOSE_HEADER.lower())
        jurisdiction_header = exchange.header(JURISDICTION_HEADER.lower())
        prepared = await proxy.prepare_async(
            app, body, self._run, purpose=purpose, jurisdiction_header=jurisdiction_header
        )
        if not prepared.stream and proxy.can_await(prepared):
            answer = await proxy.complete_async(prepared, self._run)
            return _route_headers(answer["sovgw"]), answer

        def on_a_thread() -> tuple[dict[str, str], dict[str, Any] | Iterator[dict[str, Any]]]:
            if not prepared.stream:
                answer = proxy.complete(prepared)
                return _route_headers(answer["sovgw"]), answer
            endpoint, chunks = proxy.stream(prepared)
            return _route_headers(prepared.summary(endpoint, {})), chunks

        return await self._run(on_a_thread)

    async def _stream(
        self, exchange: _Exchange, headers: dict[str, str], chunks: Iterator[dict[str, Any]]
    ) -> None:
        """Send the chunks as they come, those that came together in one write; HTTP/1.0 has
        no chunked encoding, so its caller gets the whole stream with a Content-Length
        (uvicorn would send chunks regardless)."""
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"} | headers
        whole = exchange.scope.get("http_version") == "1.0"
        gathered: list[bytes] = []
        pump = _Pump(
            asyncio.get_running_loop(),
            (sse_event(chunk) for chunk in chunks),
            lambda message: _log_watched(self.proxy, logger.exception, message),
        )
        self._pool.submit(pump.run, getattr(chunks, "close", None))
        gone = asyncio.ensure_future(exchange.disconnected())
        try:
            if not whole:
                await exchange.start(200, headers)
            try:
                async for batch in pump.batches():
                    if gone.done():  # stop reading the upstream for a caller that left
                        raise _ClientGone
                    if whole:
                        gathered += batch
                    else:
                        await exchange.write(b"".join(batch))
            except Exception:
                if whole:
                    raise  # nothing sent yet: a JSON 500
                # The answer went out but the call could not be finished (its audit record
                # was not written): the stream ends with an error event, not a broken body.
                _log_watched(self.proxy, logger.exception, "stream failed")
                failed = ProxyError(
                    500,
                    "server_error",
                    "the gateway could not finish this call",
                    code="stream_failed",
                )
                await exchange.write(sse_event(failed.body()), more=False)
                return
            if whole:
                gathered.append(sse_event(DONE))
                await exchange.whole(200, b"".join(gathered), headers)
            else:
                await exchange.write(sse_event(DONE), more=False)
        finally:
            gone.cancel()
            pump.stop()  # its thread closes the chunks, which writes the audit record

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _log_watched(
    proxy: SovereignProxy, log: Callable[..., None], message: str, **fields: Any
) -> None:
    """A line of the proxy's log, watched for leak canaries as the functions' lines are: a
    value holding one is withheld from the line, recorded and alarmed."""
    watch_canaries(proxy.canaries())
    log(message, **fields)
    for sighting in take_sightings():
        proxy.raise_log_sighting(sighting)


class _Pump:
    """A blocking iterator run on a pool thread, its items handed to the event loop in
    batches: the loop wakes once per batch (items that arrived while it was writing come
    together), not once per item and thread hop, which cost more CPU than the chunks' own
    scanning. At most ``MAX_PENDING`` items wait; then the thread waits for the loop (a slow
    reader slows the upstream read, it does not fill memory)."""

    MAX_PENDING = 64

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        items: Iterator[bytes],
        log_failure: Callable[[str], None],
    ) -> None:
        self._loop = loop
        self._items = items
        self._log_failure = log_failure
        self._cond = threading.Condition()
        self._pending: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._stopped = False
        self._error: BaseException | None = None

    def run(self, close: Callable[[], object] | None) -> None:
        """On the pool thread: iterate until the end or ``stop``, then ``close`` the source."""
        try:
            for item in self._items:
                with self._cond:
                    while len(self._pending) >= self.MAX_PENDING and not self._stopped:
                        self._cond.wait()
                    if self._stopped:
                        break
                    self._pending.append(item)
                    waiter, self._waiter = self._waiter, None
                if waiter is not None:
                    self._loop.call_soon_threadsafe(_resolve, waiter)
                    # Let the loop write it now: a thread that keeps computing would hold the
                    # GIL for up to its 5 ms switch interval (measured: +5 ms to first byte).
                    time.sleep(0)
        except BaseException as error:  # handed to the loop, raised there
            self._error = error
        finally:
            if close is not None:
                try:
                    close()  # writes the invocation's audit record
                except Exception:  # no caller waits on this thread: say it here
                    self._log_failure("closing a stream failed")
            with self._cond:
                self._done = True
                waiter, self._waiter = self._waiter, None
            if waiter is not None:
                self._loop.call_soon_threadsafe(_resolve, waiter)

    async def batches(self) -> AsyncIterator[list[bytes]]:
        while True:
            with self._cond:
                batch, self._pending = self._pending, []
                done = self._done
                waiter = None
                if batch:
                    self._cond.notify()
                elif not done:
                    waiter = self._waiter = self._loop.create_future()
            if batch:
                yield batch
            elif done:
                if self._error is not None:
                    raise self._error
                return
            else:
                assert waiter is not None
                await waiter

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _ClientGone(Exception):
    """The caller disconnected or stopped sending its body within the deadline."""


class _Exchange:
    """One request and its response, with the deadlines that bound a slow client."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, timeout_s: float) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self._timeout_s = timeout_s
        self.started = False
        self._headers = {name.decode("latin-1"): value for name, value in scope["headers"]}

    @property
    def route(self) -> str:
        """The path; a query string (``?api-version=...``) is accepted and ignored: nothing
        the proxy answers depends on it."""
        return str(self.scope["path"]).rstrip("/") or "/"

    def header(self, name: str) -> str | None:
        value = self._headers.get(name)
        return value.decode("latin-1") if value is not None else None

    async def body(self, limit: int) -> bytes:
        """The whole body (Content-Length or chunked), refused before reading when its
        declared length is over ``limit`` and as soon as the bytes pass it otherwise."""
        declared = self.header("content-length")
        if declared is not None and int(declared) > limit:
            raise _too_large(limit)
        received = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(self._receive(), self._timeout_s)
            except TimeoutError:
                raise ProxyError(
                    408,
                    "invalid_request_error",
                    f"the body did not arrive within {self._timeout_s:g} s",
                    code="request_timeout",
                    close=True,
                ) from None
            if message["type"] == "http.disconnect":
                raise _ClientGone
            received += message.get("body", b"")
            if len(received) > limit:
                raise _too_large(limit)
            if not message.get("more_body", False):
                return bytes(received)

    async def disconnected(self) -> None:
        """Returns once the caller has gone (after the body, uvicorn's receive waits for it)."""
        while (await self._receive())["type"] != "http.disconnect":
            pass

    async def _out(self, *messages: Message) -> None:
        """Send, within one deadline for all ``messages``."""
        try:
            async with asyncio.timeout(self._timeout_s):
                for message in messages:
                    await self._send(message)
        except TimeoutError:
            raise _ClientGone from None  # it stopped reading: uvicorn closes the connection

    def _start(self, status: int, headers: Mapping[str, str], close: bool) -> Message:
        self.started = True
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if close:
            raw.append((b"connection", b"close"))
        return {"type": "http.response.start", "status": status, "headers": raw}

    @staticmethod
    def _body(data: bytes, more: bool) -> Message:
        return {"type": "http.response.body", "body": data, "more_body": more}

    async def start(self, status: int, headers: Mapping[str, str], close: bool = False) -> None:
        await self._out(self._start(status, headers, close))

    async def write(self, data: bytes, more: bool = True) -> None:
        await self._out(self._body(data, more))

    async def whole(
        self, status: int, data: bytes, headers: Mapping[str, str], close: bool = False
    ) -> None:
        sized = {**headers, "Content-Length": str(len(data))}
        await self._out(self._start(status, sized, close), self._body(data, more=False))

    async def json(
        self, status: int, body: Any, headers: Mapping[str, str] | None = None, close: bool = False
    ) -> None:
        extra = {"Content-Type": JSON_TYPE, **(headers or {})}
        await self.whole(status, json.dumps(body).encode(), extra, close)

    async def error(self, error: ProxyError, close: bool = False) -> None:
        headers = dict(error.headers)
        if error.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="sovgw"'
        if error.status in {429, 503}:
            wait = error.retry_after_s if error.retry_after_s is not None else 30
            headers["Retry-After"] = str(math.ceil(wait))
        await self.json(error.status, error.body(), headers, close=close or error.close)


def _too_large(limit: int) -> ProxyError:
    return ProxyError(
        413,
        "invalid_request_error",
        f"body over {limit} bytes",
        code="request_too_large",
        close=True,  # the unread rest must not be parsed as a request
    )


def _route_headers(summary: Mapping[str, Any]) -> dict[str, str]:
    return {
        "X-Sovgw-Request-Id": str(summary["request_id"]),
        "X-Sovgw-Rule": str(summary["rule_id"]),
        "X-Sovgw-Endpoint": str(summary["endpoint"]),
        "X-Sovgw-Level": str(summary["level"]),
    }


def _server(app: ProxyApp, limits: HttpLimits) -> uvicorn.Server:
    redact_library_logs()  # uvicorn logs an application's exception with its text
    config = uvicorn.Config(
        app,
        http=protocol_for(limits),
        ws="none",
        lifespan="off",
        access_log=False,  # request lines may carry personal data in query strings
        proxy_headers=False,  # nothing reads the client's address: no middleware per request
        log_config=None,
        log_level="warning",
        timeout_keep_alive=limits.keep_alive_s,
        backlog=2048,
    )
    return uvicorn.Server(config)


def _listener(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    return listener


class BackgroundProxyServer:
    """The proxy served on a thread of this process (tests, the local stack)."""

    def __init__(self, proxy: SovereignProxy, limits: HttpLimits, host: str, port: int) -> None:
        self.app = ProxyApp(proxy, limits)
        self._server = _server(self.app, limits)
        self._listener = _listener(host, port)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._listener]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> BackgroundProxyServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the proxy's server did not start")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.app.close()
        with contextlib.suppress(OSError):
            self._listener.close()


def serve_proxy(
    proxy: SovereignProxy,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: HttpLimits | None = None,
) -> BackgroundProxyServer:
    """Start the proxy on ``host:port`` in the background; the caller stops it."""
    return BackgroundProxyServer(proxy, limits or HttpLimits(), host, port).start()


def run_proxy_server(
    build: Callable[[], SovereignProxy],
    host: str,
    port: int,
    workers: int,
    announce: Callable[[str], None],
    *,
    limits: HttpLimits | None = None,
) -> int:
    """Serve until stopped, in this process or in ``workers`` pre-forked ones (each builds
    its own proxy after the fork); ``announce`` gets the URL once the port listens, which is
    after every worker has built (and warmed) its proxy."""
    limits = limits or HttpLimits()

    def build_worker() -> Callable[[socket.socket], None]:
        server = _server(ProxyApp(build(), limits), limits)
        return lambda listener: server.run(sockets=[listener])

    if workers > 1:
        prefork = PreforkServer(build_worker, workers, host, port)
        return prefork.run(lambda: announce(prefork.url))
    serve = build_worker()
    listener = _listener(host, port)
    listener.listen(2048)
    announce(f"http://127.0.0.1:{listener.getsockname()[1]}")
    serve(listener)  # until SIGINT or SIGTERM (uvicorn's handlers)
    return 0
