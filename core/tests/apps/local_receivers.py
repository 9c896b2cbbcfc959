"""Receivers on 127.0.0.1 for notification tests: an HTTP server and an SMTP server (aiosmtpd) that
record what they got and can refuse the first N deliveries (to exercise retries)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HttpReceiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                if receiver.refused < receiver.fail_first:
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(raw) if raw else None,
                    }
                )
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@contextmanager
def smtp_receiver(fail_first: int = 0, user: str | None = None, password: str | None = None) -> Iterator[Any]:
    """An aiosmtpd server on 127.0.0.1 (a free port); yields (port, messages list)."""
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Handler:
        def __init__(self) -> None:
            self.messages: list[dict[str, Any]] = []
            self.refused = 0
            self.logins: list[str] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if self.refused < fail_first:
                self.refused += 1
                return "451 try again later"
            self.messages.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "data": envelope.content.decode("utf-8", "replace"),
                }
            )
            return "250 OK"

    handler = Handler()

    def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        )
        if ok:
            handler.logins.append(data.login.decode())
        return AuthResult(success=ok)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kw: dict[str, Any] = {}
    if user is not None:
        kw = {"authenticator": auth, "auth_require_tls": False}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kw)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()
