"""A hostile portal on 127.0.0.1: the replica's pages, with some answers changed by the test (a
multi-member gzip sitemap, a redirect off the host, a wrong charset, a sitemap of a million URLs
generated as it is sent).

``HostileServer(config, answer)``: ``answer(path_and_query, base_url, replica)`` returns the
:class:`Answer` to send, where ``replica()`` is what the replica itself would answer. An answer
whose body is an iterable of byte strings is sent chunked as it is produced, so a test can serve
a body far larger than it would want to hold.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from tests.replica.portal import make_site
from tests.replica.server import LoopbackServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from tests.replica.portal import PortalSite
    from tests.replica.site import ReplicaConfig, ReplicaSite


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    owner: HostileServer

    def handle_error(self, request: object, client_address: object) -> None:
        # A crawler that closed its connection early is expected here; anything else is shown.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        owner = self.server.owner
        target = self.path
        host = self.headers.get("Host") or owner.url.removeprefix("http://")
        base = f"http://{host}"
        with owner._lock:
            owner.requests.append(target)

        def replica() -> Answer:
            resp = owner.site.handle("GET", target, 1, base_url=base)
            return Answer(resp.status, list(resp.headers), resp.body)

        answer = owner.answer(target, base, replica)
        self.send_response_only(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        try:
            if isinstance(answer.body, bytes):
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in answer.body:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            # The crawler went away mid-body (it was stopped): nothing more to send.
            self.close_connection = True


class HostileServer(LoopbackServer):
    def __init__(
        self,
        config: ReplicaConfig,
        answer: Callable[[str, str, Callable[[], Answer]], Answer] | None = None,
    ) -> None:
        super().__init__()
        self.site: ReplicaSite | PortalSite = make_site(config)
        self.answer = answer or (lambda _target, _base, replica: replica())
        self.requests: list[str] = []

    def __enter__(self) -> HostileServer:
        self._serve(_HTTPServer(("127.0.0.1", 0), _Handler))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._shutdown()

    def requested(self, prefix: str) -> list[str]:
        with self._lock:
            return [t for t in self.requests if t.startswith(prefix)]
