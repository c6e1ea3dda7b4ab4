"""A local SMTP sink (aiosmtpd) and a local webhook receiver, both on 127.0.0.1, for the alert
tests: they keep what reaches them."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

if TYPE_CHECKING:
    from types import TracebackType


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (until someone binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Keep:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class SmtpSink:
    """Keeps every message; with ``credentials`` (user, password) it requires AUTH LOGIN/PLAIN
    (over plain text: the sink has no certificate) and refuses other credentials."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self._keep = _Keep()
        self.port = free_port()
        self.logins: list[str] = []
        params: dict[str, Any] = {}
        if credentials is not None:

            def authenticate(
                server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
            ) -> AuthResult:
                login = auth_data.login.decode()
                ok = (login, auth_data.password.decode()) == credentials
                if ok:
                    self.logins.append(login)
                return AuthResult(success=ok)

            params = {
                "authenticator": authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self._controller = Controller(self._keep, hostname="127.0.0.1", port=self.port, **params)

    @property
    def messages(self) -> list[EmailMessage]:
        return self._keep.messages

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        return self._keep.envelopes

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()


class WebhookReceiver:
    """Answers every POST with ``status`` (after ``delay`` seconds) and keeps its body."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(self.rfile.read(length))
                receiver.content_types.append(self.headers.get("Content-Type") or "")
                if receiver.delay:
                    time.sleep(receiver.delay)
                # A client that timed out has gone: nothing to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/services/T000/B000/SECRETPATH"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
