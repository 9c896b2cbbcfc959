"""A command app whose replicas ignore SIGTERM: stopping it takes the SIGKILL path."""

from __future__ import annotations

import sys

import flyte.app

# Deaf to SIGTERM, so also to the supervisor's death signal: it exits by itself once orphaned (a test
# run killed half-way must not leave it behind).
SERVER = (
    "import os, signal, sys, threading, time, http.server as h\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "parent = os.getppid()\n"
    "def watch():\n"
    "    while os.getppid() == parent:\n"
    "        time.sleep(0.5)\n"
    "    os._exit(1)\n"
    "threading.Thread(target=watch, daemon=True).start()\n"
    "h.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), h.SimpleHTTPRequestHandler).serve_forever()\n"
)

stubborn = flyte.app.AppEnvironment(
    name="stubborn",
    command=[sys.executable, "-c", SERVER, "$PORT"],
    scaling=flyte.app.Scaling(replicas=2),
)
