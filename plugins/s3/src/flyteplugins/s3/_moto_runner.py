"""A moto S3 server for tests: ``python -m flyteplugins.s3._moto_runner --port 0``.

Binds 127.0.0.1 only and prints ``READY <port>`` once it accepts connections. Besides moto's own
server it can simulate outages without losing its (in-memory) objects, like a real S3 endpoint whose
disks survive a restart:

* ``SIGUSR1`` stops listening: the port is closed, clients get "connection refused";
* ``SIGUSR2`` listens again on the same port;
* ``POST /__flyte_fault__?count=N&status=503&code=SlowDown`` answers the next N requests with that
  error (throttling, 500/503), then serves normally again.

``SIGTERM``/``SIGINT`` exit. Needs ``moto[server]`` (the plugin's ``test`` extra).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

HOST = "127.0.0.1"


class FaultInjector:
    """WSGI middleware: the next ``count`` requests fail with ``status``/``code``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.count = 0
        self.status = 503
        self.code = "SlowDown"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/__flyte_fault__":
            q = parse_qs(environ.get("QUERY_STRING", ""))
            with self.lock:
                self.count = int(q.get("count", ["1"])[0])
                self.status = int(q.get("status", ["503"])[0])
                self.code = q.get("code", ["SlowDown"])[0]
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        with self.lock:
            fail = self.count > 0
            if fail:
                self.count -= 1
            status, code = self.status, self.code
        if fail:
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>injected fault</Message><RequestId>flyte-test</RequestId></Error>"
            ).encode()
            start_response(f"{status} Injected", [("Content-Type", "application/xml")])
            return [body]
        return self.app(environ, start_response)


class Runner:
    def __init__(self, port: int) -> None:
        self.app = FaultInjector(DomainDispatcherApplication(create_backend_app))
        self.port = port
        self.server: BaseWSGIServer | None = None
        self.thread: threading.Thread | None = None

    def listen(self) -> None:
        if self.server is not None:
            return
        server = make_server(HOST, self.port, self.app, threaded=True, request_handler=MotoRequestHandler)
        self.port = server.server_address[1]
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()
        print(f"READY {self.port}", flush=True)

    def close(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()  # the port stops accepting: clients see "connection refused"
        if self.thread is not None:
            self.thread.join(5)
        print(f"STOPPED {self.port}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    runner = Runner(args.port)
    pending: list[str] = []
    wake = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        pending.append({signal.SIGUSR1: "stop", signal.SIGUSR2: "start"}.get(signum, "exit"))
        wake.set()

    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    runner.listen()
    while True:
        wake.wait(0.5)
        wake.clear()
        while pending:
            what = pending.pop(0)
            if what == "stop":
                runner.close()
            elif what == "start":
                runner.listen()
            else:
                runner.close()
                sys.exit(0)


if __name__ == "__main__":
    main()
