"""A command app: any program that listens on $PORT (here Python's http.server)."""

from __future__ import annotations

import sys

import flyte.app

files = flyte.app.AppEnvironment(
    name="files",
    command=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "$PORT"],
    scaling=flyte.app.Scaling(replicas=1),
)
