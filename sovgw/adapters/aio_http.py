"""HTTP/1.1 requests on the proxy's own event loop, for upstreams answered whole.

Why not urllib3 on a thread: a blocking client needs a pool thread per call in flight, and
those threads contend for the GIL with the event loop and with each other on every socket
call (at 8 clients, about 160 futex calls a request; ``benchmarks/proxy``). Here the loop
waits on the sockets itself, and httptools (the parser uvicorn serves with) reads the answer.

Kept small on purpose: POST with a body, Content-Length or chunked answers read whole, keep-
alive connections reused per origin, TLS with a CA bundle, a connect deadline and a deadline
per read. A reused connection the server closed while idle is retried once on a new one, as
no byte of the request can have been acted on.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

MAX_ANSWER_BYTES = 16 * 1024 * 1024
MAX_IDLE_PER_ORIGIN = 64
READ_SIZE = 65_536
_BREAKS = frozenset("\r\n\0")


class HttpFailure(Exception):
    """The exchange failed before a whole answer arrived (connect, reset, timeout, protocol)."""


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _Reading:
    """httptools callbacks, collecting one answer."""

    limit: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False
    too_large: bool = False
    keep_alive: bool = False
    parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        # Asked here: once the message is complete the parser has reset and says False.
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        if len(self.body) + len(data) > self.limit:
            self.too_large = True
        else:
            self.body += data

    def on_message_complete(self) -> None:
        self.complete = True


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class AsyncHttp:
    """Requests with keep-alive connections per origin; one instance per process, usable from
    any event loop (connections are kept per loop)."""

    def __init__(
        self, *, connect_timeout_s: float, read_timeout_s: float, ca_bundle: str | None = None
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._ca_bundle = ca_bundle
        self._tls: ssl.SSLContext | None = None
        self._idle: dict[tuple[int, str], list[Connection]] = {}

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=self._ca_bundle)
        return self._tls

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, limit: int = MAX_ANSWER_BYTES
    ) -> HttpAnswer:
        """POST ``body``; the whole answer, or ``HttpFailure``."""
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise HttpFailure(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
        if any(_BREAKS.intersection(f"{name}{value}") for name, value in headers.items()):
            # As http.client refuses them: a line break would end the header and start another.
            raise HttpFailure("a header holds a line break")
        origin = f"{parts.scheme}://{parts.netloc}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = "".join(
            [
                f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n",
                f"Content-Length: {len(body)}\r\n",
                *(f"{name}: {value}\r\n" for name, value in headers.items()),
                "\r\n",
            ]
        ).encode("latin-1")
        key = (id(asyncio.get_running_loop()), origin)
        reused = self._take_idle(key)
        if reused is not None:
            try:
                return await self._exchange(key, reused, head + body, limit, reused=True)
            except _StaleConnection:
                pass  # closed by the server while idle: nothing was read, send it afresh
        connection = await self._connect(parts.hostname, parts.port, parts.scheme == "https")
        return await self._exchange(key, connection, head + body, limit, reused=False)

    def _take_idle(self, key: tuple[int, str]) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            reader, writer = idle.pop()
            if not writer.transport.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    async def _connect(self, host: str, port: int | None, tls: bool) -> Connection:
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                return await asyncio.open_connection(
                    host,
                    port or (443 if tls else 80),
                    ssl=self._tls_context() if tls else None,
                    server_hostname=host if tls else None,
                )
        except (OSError, TimeoutError, ssl.SSLError) as error:
            raise HttpFailure(f"connect failed: {type(error).__name__}") from None

    async def _exchange(
        self,
        key: tuple[int, str],
        connection: Connection,
        request: bytes,
        limit: int,
        *,
        reused: bool,
    ) -> HttpAnswer:
        reader, writer = connection
        reading = _Reading(limit)
        parser = reading.parser = httptools.HttpResponseParser(reading)
        received = False
        try:
            writer.write(request)
            while not reading.complete:
                async with asyncio.timeout(self._read_timeout_s):
                    data = await reader.read(READ_SIZE)
                if not data:
                    if reused and not received:
                        raise _StaleConnection
                    raise HttpFailure("the connection closed before the answer ended")
                received = True
                parser.feed_data(data)
                if reading.too_large:
                    raise HttpFailure(f"the answer is over {limit} bytes")
        except (_StaleConnection, HttpFailure):
            writer.close()
            raise
        except (OSError, TimeoutError, httptools.HttpParserError) as error:
            writer.close()
            if reused and not received and isinstance(error, ConnectionError):
                raise _StaleConnection from None
            raise HttpFailure(f"the exchange failed: {type(error).__name__}") from None
        idle = self._idle.setdefault(key, [])
        if reading.keep_alive and not reader.at_eof() and len(idle) < MAX_IDLE_PER_ORIGIN:
            idle.append(connection)
        else:
            writer.close()
        return HttpAnswer(parser.get_status_code(), reading.headers, bytes(reading.body))


class _StaleConnection(Exception):
    """A kept-alive connection answered nothing: the server had closed it."""
