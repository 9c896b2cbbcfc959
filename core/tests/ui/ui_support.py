"""Helpers and fixtures for the UI tests: recorded runs, a seeded journal, the real server in a subprocess.

Kept out of a ``conftest.py`` so that ``from conftest import ...`` in the other test folders keeps
meaning the top-level one. Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
CORE = HERE.parent.parent


def artifacts_dir() -> Path:
    """Where screenshots go: ``$FLYTE_UI_ARTIFACTS`` or ``core/tests/ui/artifacts`` (gitignored)."""
    d = Path(os.environ.get("FLYTE_UI_ARTIFACTS") or HERE / "artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


# ---- journals --------------------------------------------------------------------------------------
def new_journal(path: Path) -> sqlite3.Connection:
    """An empty journal with the runtime's own schema, for seeding rows directly."""
    from flyte._runtime.journal import SCHEMA

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


def add_run(
    conn: sqlite3.Connection,
    name: str,
    *,
    task: str = "demo.main",
    status: str = "SUCCEEDED",
    t0: float = 1_700_000_000.0,
    took: float = 2.0,
    store: str | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO runs(name, task_name, status, created_at, started_at, ended_at, store_prefix, host,"
        " user, pid, settings, error) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            name,
            task,
            status,
            t0,
            t0,
            None if status == "RUNNING" else t0 + took,
            store,
            "box",
            "ann",
            1,
            "{}",
            error,
        ),
    )


def add_action(
    conn: sqlite3.Connection,
    run: str,
    action_id: str,
    parent: str | None,
    position: int,
    *,
    task: str = "demo.step",
    status: str = "SUCCEEDED",
    kind: str = "task",
    group: str | None = None,
    start: float = 1_700_000_000.0,
    end: float | None = 1_700_000_001.0,
    inputs: bytes | None = b"J{}",
    outputs: bytes | None = None,
    error: str | None = None,
    attempts: int = 1,
    cache_hit: int = 0,
) -> None:
    conn.execute(
        "INSERT INTO actions(run, action_id, parent_id, position, kind, task_name, task_identity, task_type,"
        " status, attempts, cache_hit, started_at, ended_at, inputs, outputs, error, group_name, mode)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            run,
            action_id,
            parent,
            position,
            kind,
            task,
            "ident",
            "python",
            status,
            attempts,
            cache_hit,
            start,
            end,
            inputs,
            outputs,
            error,
            group,
            "inline",
        ),
    )


def error_json(code: str, message: str, traceback: str = "") -> str:
    return json.dumps(
        {"type": f"builtins.{code}", "code": code, "kind": "user", "message": message, "traceback": traceback}
    )


# ---- the server ------------------------------------------------------------------------------------
@dataclass
class Server:
    """``flyte ui`` running in a subprocess; stopped by its PID."""

    proc: subprocess.Popen[bytes]
    url: str
    host: str
    port: int
    log: Path

    def request(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """GET ``path`` exactly as given (no client-side normalisation of ``..``)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=20)
        try:
            conn.putrequest("GET", path, skip_host=bool(headers and "Host" in headers))
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def get_json(self, path: str) -> Any:
        status, _, body = self.request(path)
        assert status == 200, (status, body[:300])
        return json.loads(body)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start_server(journal: Path, log_dir: Path, extra: Sequence[str] = ()) -> Server:
    """Start ``flyte ui --port 0`` on 127.0.0.1 for ``journal`` and wait for the URL it prints."""
    log = log_dir / f"flyte-ui-{os.getpid()}-{time.monotonic_ns()}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", FLYTE_HOME=str(journal.parent))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flyte.cli.main", "ui", "--port", "0", "--journal", str(journal), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        for word in text.split():
            if word.startswith("http://"):
                host_port = word[len("http://") :].rstrip("/")
                host, port = host_port.rsplit(":", 1)
                server = Server(proc, word.rstrip("/"), host, int(port), log)
                _wait_listening(server.host, server.port, deadline)
                return server
        if proc.poll() is not None:
            raise RuntimeError(f"flyte ui exited with {proc.returncode}:\n{text}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"flyte ui did not start:\n{log.read_text(errors='replace')}")


def _wait_listening(host: str, port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def port_closed(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:
        return True


# ---- fixtures --------------------------------------------------------------------------------------
@dataclass
class Recorded:
    """Runs recorded by ``ui_flows.record`` in a home of their own."""

    home: Path
    names: dict[str, str]

    @property
    def journal(self) -> Path:
        return self.home / "journal.db"

    def action_id(self, run_label: str, task: str) -> str:
        conn = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT action_id FROM actions WHERE run=? AND task_name=? ORDER BY position LIMIT 1",
                (self.names[run_label], task),
            ).fetchone()
        finally:
            conn.close()
        assert row is not None, (run_label, task)
        return str(row[0])


@pytest.fixture(scope="session")
def ui_recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """Real runs from ``flyte.run`` (a first run, a run with cache hits, a failed run)."""
    home = tmp_path_factory.mktemp("ui-home")
    out = subprocess.run(
        [sys.executable, str(HERE / "ui_flows.py"), str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(HERE),
        env=dict(os.environ, FLYTE_HOME=str(home)),
    )
    assert out.returncode == 0, out.stderr
    names = json.loads(out.stdout.strip().splitlines()[-1])
    return Recorded(home, names)


@pytest.fixture(scope="module")
def ui_server(ui_recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real ``flyte ui`` for the recorded runs; stopped by PID, its port checked closed."""
    s = start_server(ui_recorded.journal, tmp_path_factory.mktemp("ui-logs"))
    try:
        yield s
    finally:
        s.stop()
        assert s.proc.poll() is not None
        assert port_closed(s.host, s.port)
