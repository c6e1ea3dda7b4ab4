"""Threaded HTTP/1.1 server for the replica, on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from tests.replica.portal import PortalSite, make_site
from tests.replica.site import ReplicaConfig, ReplicaResponse, ReplicaSite

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

SLOW_SECONDS = 1.5
# chunk size of the sitemaps_gzip_chunked mode: many chunks per sitemap
GZIP_CHUNK_BYTES = 4096


class RequestRecord(NamedTuple):
    method: str
    path_and_query: str
    status: int  # 0 when the connection was dropped without a response
    fault: str | None


class RequestTiming(NamedTuple):
    """A request as ReplicaConfig.record_timing logs it: in flight from its arrival (request
    line and headers read) until its answer starts going out."""

    arrived: float  # time.monotonic() of the server process
    in_flight: int  # requests in flight at its arrival, itself included
    path_and_query: str


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    owner: ReplicaServer


class _ReusePortHTTPServer(_HTTPServer):
    """SO_REUSEPORT: several server processes of the same site listen on one port, and the
    kernel spreads the connections between them (the cluster benchmark's "several servers")."""

    allow_reuse_port = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # one small write per response; Nagle plus delayed ACKs would add 40 ms per keep-alive request
    disable_nagle_algorithm = True
    timeout = 30
    server: _HTTPServer
    server_version = "Apache-Coyote/1.1"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._serve("POST")

    def _serve(self, method: str) -> None:
        owner = self.server.owner
        target = self.path
        if not target.startswith("/"):
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        owner._arrive(target)
        attempt = owner._next_attempt(target)
        host = self.headers.get("Host") or owner.url.removeprefix("http://")
        resp = owner.site.handle(method, target, attempt, base_url=f"http://{host}")
        if owner.config.answer_seconds:
            time.sleep(owner.config.answer_seconds)
        if resp.fault == "drop":
            owner._depart()
            self.close_connection = True
            owner._record(RequestRecord(method, target, 0, resp.fault))
            return
        # Recorded before the answer goes out, so a client that has its response sees the record.
        owner._record(RequestRecord(method, target, resp.status, resp.fault))
        if resp.fault == "slow":
            time.sleep(SLOW_SECONDS)
        owner._depart()
        body = resp.body
        self.send_response_only(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        if self._gzip_chunked(method, resp):
            self._send_gzip_chunked(body)
        elif resp.fault == "truncated":
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            # headers and body in one write (BaseHTTPRequestHandler buffers the headers)
            buffer: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
            buffer.append(b"\r\n")
            if method != "HEAD":
                buffer.append(body)
            self.flush_headers()

    def _gzip_chunked(self, method: str, resp: ReplicaResponse) -> bool:
        if not self.server.owner.config.sitemaps_gzip_chunked or method != "GET":
            return False
        types = [value for name, value in resp.headers if name.lower() == "content-type"]
        return resp.status == 200 and resp.fault is None and any("xml" in t for t in types)

    def _send_gzip_chunked(self, body: bytes) -> None:
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        packed = gzip.compress(body)
        for start in range(0, len(packed), GZIP_CHUNK_BYTES):
            chunk = packed[start : start + GZIP_CHUNK_BYTES]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")


class LoopbackServer:
    """An HTTP server on 127.0.0.1 in a thread of its own, its open connections tracked so that
    stopping it also ends the keep-alive handler threads blocked on reads."""

    def __init__(self) -> None:
        self.url = ""
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _serve(self, httpd: ThreadingHTTPServer) -> None:
        httpd.owner = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def _shutdown(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        # keep-alive handler threads block on reads; closing their sockets lets them end
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class ReplicaServer(LoopbackServer):
    def __init__(
        self,
        config: ReplicaConfig,
        port: int = 0,
        *,
        on_request: Callable[[RequestRecord], None] | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.config = config
        # Opt-in: other processes may bind the same port (each must set it too).
        self.reuse_port = reuse_port
        super().__init__()
        self.site: ReplicaSite | PortalSite = make_site(config)
        self.port = port
        self.requests: list[RequestRecord] = []
        self.timings: list[RequestTiming] = []
        self._in_flight = 0
        self._on_request = on_request
        self._attempts: dict[str, int] = {}

    def start(self) -> ReplicaServer:
        server_class = _ReusePortHTTPServer if self.reuse_port else _HTTPServer
        self._serve(server_class(("127.0.0.1", self.port), _Handler))
        return self

    def stop(self) -> None:
        self._shutdown()

    def __enter__(self) -> ReplicaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _next_attempt(self, path_and_query: str) -> int:
        with self._lock:
            attempt = self._attempts.get(path_and_query, 0) + 1
            self._attempts[path_and_query] = attempt
            return attempt

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)
        if self._on_request is not None:
            self._on_request(record)

    def _arrive(self, path_and_query: str) -> None:
        if not self.config.record_timing:
            return
        with self._lock:
            self._in_flight += 1
            self.timings.append(RequestTiming(time.monotonic(), self._in_flight, path_and_query))

    def _depart(self) -> None:
        if not self.config.record_timing:
            return
        with self._lock:
            self._in_flight -= 1
