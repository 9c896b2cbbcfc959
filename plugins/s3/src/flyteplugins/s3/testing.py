"""A real S3-compatible server for tests: moto's server in a subprocess on 127.0.0.1.

```python
from flyteplugins.s3.testing import MotoServer

with MotoServer() as server:              # started on a free port, stopped by its PID on exit
    server.create_bucket("runs")
    flyte.init(raw_data_path="s3://runs/data", storage=server.storage_options())
    ...
    server.pause()                        # port closed: "connection refused" (objects are kept)
    server.resume()                       # the same port serves again
    server.inject_faults(3, status=503)   # the next 3 requests fail with 503 SlowDown
```
Needs ``moto[server]`` (``pip install 'flyte-plugin-s3[test]'``). Binds 127.0.0.1 only.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import IO, Any

HOST = "127.0.0.1"


class MotoServer:
    """One moto server process; ``pid`` is the only process it starts, and ``stop`` ends it."""

    def __init__(self, port: int = 0, log_path: str | None = None, start_timeout: float = 60.0) -> None:
        self.port = port
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> MotoServer:
        """Start the process (on ``port``, or a free one when 0) and wait until it serves."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        stderr: Any = subprocess.DEVNULL
        if self.log_path:
            self._log = open(self.log_path, "ab")
            stderr = self._log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flyteplugins.s3._moto_runner", "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
        line = self._read_line(self.start_timeout)
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"moto server did not start (got {line!r}); is moto[server] installed?")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        """End the server process (by its PID) and wait for it."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """Kill the process outright (SIGKILL): a crash; its in-memory objects are gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.stop()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        """``flyte.init(storage=...)`` for this server."""
        return {"endpoint_url": self.endpoint_url, "region": "us-east-1", **extra}

    # ---- outages --------------------------------------------------------------------------------
    def pause(self, timeout: float = 10.0) -> None:
        """Stop listening (connections are refused); the objects stay in the server's memory."""
        self._signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while self.accepting():
            if time.monotonic() > deadline:
                raise RuntimeError("moto server kept accepting connections after pause()")
            time.sleep(0.02)

    def resume(self, timeout: float = 10.0) -> None:
        """Listen again on the same port."""
        self._signal(signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while not self.accepting():
            if time.monotonic() > deadline:
                raise RuntimeError("moto server did not listen again after resume()")
            time.sleep(0.02)

    def inject_faults(self, count: int, status: int = 503, code: str = "SlowDown") -> None:
        """The next ``count`` requests are answered with ``status`` and S3 error ``code``."""
        url = f"{self.endpoint_url}/__flyte_fault__?count={count}&status={status}&code={code}"
        req = urllib.request.Request(url, method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def accepting(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1):
                return True
        except OSError:
            return False

    # ---- conveniences ---------------------------------------------------------------------------
    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def _signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("the moto server is not running")
        os.kill(self.proc.pid, sig)

    def _read_line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 1)
                if not chunk:
                    break
                if chunk == b"\n":
                    return buf.decode(errors="replace")
                buf += chunk
            elif self.proc.poll() is not None:
                break
        return buf.decode(errors="replace")
