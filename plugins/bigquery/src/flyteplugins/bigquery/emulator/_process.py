"""The emulator as a separate process, for tests and notebooks: started on a free loopback port and
stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


@contextmanager
def running(host: str = "127.0.0.1", seeds: Sequence[str] = (), timeout: float = 60.0) -> Iterator[str]:
    """``python -m flyteplugins.bigquery.emulator`` on a free port of ``host``; yields ``host:port``
    (what ``BIGQUERY_EMULATOR_HOST`` takes) and stops the process (SIGTERM, then SIGKILL) on exit."""
    cmd = [sys.executable, "-m", "flyteplugins.bigquery.emulator", "--host", host, "--port", "0"]
    for seed in seeds:
        cmd += ["--seed", seed]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("LISTENING"):
            raise RuntimeError(f"the BigQuery emulator did not start (got {line!r}; exit {proc.poll()})")
        yield f"{host}:{int(line.split()[1])}"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
