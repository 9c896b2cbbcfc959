"""A command app whose replicas ignore SIGTERM: stopping it takes the SIGKILL path."""

from __future__ import annotations

import sys

import flyte.app

SERVER = (
    "import signal, sys, http.server as h\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "h.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), h.SimpleHTTPRequestHandler).serve_forever()\n"
)

stubborn = flyte.app.AppEnvironment(
    name="stubborn",
    command=[sys.executable, "-c", SERVER, "$PORT"],
    scaling=flyte.app.Scaling(replicas=2),
)
