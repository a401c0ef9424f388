"""A threaded HTTP(S) server that runs in the background of the current process (the
Salesforce simulator and the local model endpoint: test doubles of services, where a thread per
connection is plenty), and a supervisor of pre-forked worker processes sharing a port (the
proxy's uvicorn workers)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import ssl
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY_BYTES = 1_048_576


def free_port() -> int:
    """A loopback port free right now, for a server started in another process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler with JSON helpers and no access log on stderr (bodies may be personal)."""

    protocol_version = "HTTP/1.1"
    # Small responses written in two pieces otherwise meet the client's delayed ACK: ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def read_body(self) -> bytes | None:
        """The request body, or None after answering 413 when it is too large."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body must not be parsed as a request
            self.send_json(413, {"message": f"request body over {MAX_BODY_BYTES} bytes"})
            return None
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def start_chunked(self, status: int, headers: dict[str, str]) -> None:
        """Start a streamed response (chunked transfer encoding keeps the connection usable)."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is routine; anything else is reported as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    # The default backlog of 5 drops connections under load (clients retry after 1 s).
    request_queue_size = 128


class BackgroundServer:
    """Owns a ThreadingHTTPServer bound to loopback and its serving thread."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.httpd = _Server((host, port), handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self._scheme = "https" if tls else "http"
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)


WORKER_CANNOT_START = 3  # a worker's exit code when it fails before it serves


class PreforkServer:
    """One listening socket, ``workers`` forked processes accepting on it (the kernel spreads
    connections): a Python process serves on one core whatever its threads, so a host with
    several cores needs several processes. Each worker builds what serves after the fork
    (clients, pools and locks are never shared across it) and then serves the shared socket
    until stopped; one that dies is replaced.

    The port listens only once every first worker has built: until then a
    connection is refused rather than queued behind a start, so a client's (or a load
    balancer's) first requests never wait for imports, pools and warm-up."""

    def __init__(
        self,
        build_worker: Callable[[], Callable[[socket.socket], None]],
        workers: int,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._build_worker = build_worker
        self._workers = workers
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))  # listen() once the workers are ready
        self._listening = False
        self._ready_r, self._ready_w = os.pipe()
        self._go_r, self._go_w = os.pipe()
        self._children: set[int] = set()
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _spawn(self) -> None:
        stops = {signal.SIGTERM, signal.SIGINT}
        # Blocked across the fork: the child must never run the parent's stop handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        pid = os.fork()
        if pid:
            self._children.add(pid)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
            return
        status = WORKER_CANNOT_START
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
            serve = self._build_worker()
            if not self._listening:  # a first worker: the port opens when all are ready
                os.write(self._ready_w, b"r")
                os.read(self._go_r, 1)
            # One write() of the whole line: a pipe keeps writes under PIPE_BUF whole, so two
            # workers starting at once never interleave their lines (print may split them).
            sys.stdout.flush()
            os.write(sys.stdout.fileno(), f"worker {os.getpid()} ready\n".encode())
            status = 1  # from here on a death is the worker's, not its start's: replaced
            serve(self._listener)
            status = 0
        except BaseException:
            traceback.print_exc()  # the worker's reason, for the operator (os._exit skips it)
        finally:
            sys.stderr.flush()
            os._exit(status)

    def _await_ready(self) -> bool:
        """Wait until every first worker has built; False when one could not."""
        ready = 0
        while ready < self._workers:
            if select.select([self._ready_r], [], [], 0.1)[0]:
                ready += len(os.read(self._ready_r, self._workers))
                continue
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
            if pid:
                self._children.discard(pid)
                if os.waitstatus_to_exitcode(wait_status) == WORKER_CANNOT_START:
                    return False
                self._spawn()
        return True

    def run(self, on_listening: Callable[[], None] | None = None) -> int:
        """Fork the workers, open the port once they are ready (then ``on_listening``), and
        supervise them until SIGTERM or SIGINT; then stop them all. Returns 1 when a worker
        could not build (it cannot start: stop, do not spin); any other death is
        replaced."""
        status = 0

        def stop(signum: int = signal.SIGTERM, frame: object = None) -> None:
            self._stopping = True
            for pid in list(self._children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for _ in range(self._workers):
            self._spawn()
        if self._await_ready():
            self._listener.listen(_Server.request_queue_size)
            self._listening = True
            if on_listening is not None:
                on_listening()  # before the workers' own lines: the URL is the first line
            os.write(self._go_w, b"g" * self._workers)
        else:
            status = 1
            stop()
        while self._children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            self._children.discard(pid)
            if self._stopping:
                continue
            if os.waitstatus_to_exitcode(wait_status) == WORKER_CANNOT_START:
                status = 1
                stop()
            else:
                self._spawn()
        self._listener.close()
        return status
