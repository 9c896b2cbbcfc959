"""Fixtures for the BigQuery plugin's tests: a FLYTE_HOME per test, and the plugin's BigQuery
emulator (``python -m flyteplugins.bigquery.emulator``) on 127.0.0.1, started by the tests and
stopped by its PID.

Google's cloud cannot be reached from where these tests run: the emulator (the "stand-in") plays BigQuery's
part (its REST API, with DuckDB running the SQL) for the real, unmodified google-cloud-bigquery
client that the plugin uses. ``test_bigquery_bqemulator.py`` runs the main paths once more against
``bqemulator`` (a third-party emulator from PyPI) as a cross-check of the stand-in.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "examples"
PROJECT = "flyte-tests"


@pytest.fixture(autouse=True)
def flyte_home(flyte_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """flyte.testing's fixture (a fresh FLYTE_HOME and settings per test), and no default
    Google Cloud project from this machine."""
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    return flyte_home


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


@dataclass
class StandIn:
    """The running stand-in server: its endpoint, its process, and its test knobs."""

    endpoint: str
    proc: subprocess.Popen[str]

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.endpoint}/_stand_in/{path}", data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def hold(self, on: bool = True, insert_reply_delay: float = 0.0) -> None:
        """While on, new jobs stay RUNNING until released or cancelled; ``insert_reply_delay`` keeps
        the reply to jobs.insert back that long after the job exists."""
        self.admin("hold", {"hold": on, "insert_reply_delay": insert_reply_delay})

    def release(self, job_id: str | None = None) -> list[str]:
        return self.admin("release", {"jobId": job_id} if job_id else {})["released"]  # type: ignore[no-any-return]

    def jobs(self, contains: str = "") -> list[dict[str, Any]]:
        """Every job the server received (optionally those whose ID contains ``contains``)."""
        return [j for j in self.admin("jobs")["jobs"] if contains in j["jobId"]]

    def calls(self, call: str, contains: str = "") -> list[dict[str, Any]]:
        """API calls received of one kind (``insert_job``, ``get_job``, ``cancel_job``...)."""
        return [r for r in self.admin("requests")["requests"] if r["call"] == call and contains in r["path"]]


def start_stand_in(log: Path) -> StandIn:
    port = free_port()
    out = open(log, "w")  # the server's own output, kept for failure messages
    proc = subprocess.Popen(
        [sys.executable, "-m", "flyteplugins.bigquery.emulator", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=out,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("LISTENING"):
        proc.kill()
        raise RuntimeError(f"the stand-in server did not start: {line!r}\n{log.read_text()[-3000:]}")
    return StandIn(endpoint=f"http://127.0.0.1:{int(line.split()[1])}", proc=proc)


def stop_stand_in(server: StandIn) -> None:
    """Stop it by its PID and check that the process is gone."""
    pid = server.proc.pid
    os.kill(pid, signal.SIGTERM)
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
    assert not pid_alive(pid), f"stand-in server {pid} is still alive"


@pytest.fixture(scope="session")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    server = start_stand_in(tmp_path_factory.mktemp("stand-in") / "server.log")
    try:
        yield server
    finally:
        stop_stand_in(server)


@pytest.fixture
def bq(stand_in: StandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The stand-in, reached through ``BIGQUERY_EMULATOR_HOST`` (as users point at an emulator);
    new jobs are not held when a test starts."""
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", stand_in.endpoint.removeprefix("http://"))
    stand_in.hold(False)
    yield stand_in
    stand_in.hold(False)
    stand_in.release()


@pytest.fixture
def client(bq: StandIn) -> Any:
    """The real google-cloud-bigquery client, pointed at the stand-in."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bq.endpoint),
    )


@pytest.fixture
def dataset(client: Any) -> str:
    """A fresh dataset with ``events(ds STRING, name STRING, n INT64)``, rows seeded through SQL."""
    name = "ds_" + uuid.uuid4().hex[:8]
    client.create_dataset(name)
    client.query(f"CREATE TABLE {name}.events (ds STRING, name STRING, n INT64)").result()
    client.query(
        f"""INSERT INTO {name}.events VALUES
            ('2024-01-01', 'ann', 3), ('2024-01-01', 'bob', 5), ('2024-01-02', 'ann', 7),
            ("x'; DROP TABLE events; --", 'mallory', 1)"""
    ).result()
    return name


def journal_rows(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    con = sqlite3.connect(home / "journal.db", timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def wait_until(
    cond: Callable[[], Any], timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"process exited with {proc.returncode} first:\n{out}")
        try:
            value = cond()
        except (OSError, sqlite3.OperationalError):
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def spawn(code: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -c code`` with this directory importable (the test apps live here)."""
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join([str(HERE), full.get("PYTHONPATH", "")])
    full.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-c", code], env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
