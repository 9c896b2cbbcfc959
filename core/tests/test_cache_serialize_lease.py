"""``Cache(serialize=True)`` across runs: separate processes, each its own ``flyte.run`` of the same
cached task on one FLYTE_HOME. One computes under a journal lease, the others wait and reuse its
entry; an owner that is killed, frozen or fails is taken over by one waiter. Every run here is a real
process; the task body writes each execution to a side-effect log, and the test waits on conditions
(log lines, journal rows) with deadlines rather than sleeping.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import flyte
import pytest
from click.testing import CliRunner
from flyte._runtime.journal import Journal, LeaseAttempt, LeaseOwner
from flyte.cli.main import cli
from flyte.errors import InvalidParameterError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals, /proc")

MODULE = """
import asyncio
import os
import time

import flyte

env = flyte.TaskEnvironment(name="lease_mod")


def note(what: str) -> None:
    with open(os.environ["SIDE_LOG"], "a") as f:
        f.write(f"{what} {os.getpid()} {time.time():.6f}\\n")


def starts() -> int:
    with open(os.environ["SIDE_LOG"]) as f:
        return sum(1 for line in f if line.startswith("start "))


@env.task(cache=flyte.Cache(behavior="auto", serialize=True))
async def square(x: int) -> int:
    note("start")
    first = starts() == 1
    deadline = time.time() + 90
    while not os.path.exists(os.environ["GO_FILE"]):  # the test says when the body may finish
        if time.time() > deadline:
            raise TimeoutError("the test never created GO_FILE")
        await asyncio.sleep(0.01)
    if first and os.environ.get("FAIL_FIRST"):
        note("fail")
        raise ValueError("the first owner fails")
    note("end")
    return x * x
"""

CALLER = """
import json, os, sys, time
import flyte, lease_mod
out = {"pid": os.getpid()}
try:
    run = flyte.run(lease_mod.square, x=7)
    out.update(ok=True, value=run.outputs()[0], run=run.name)
except Exception as e:
    run = getattr(e, "flyte_run", None)
    out.update(ok=False, error=type(e).__name__, message=str(e), run=getattr(run, "name", None))
out["done"] = time.time()
print("RESULT " + json.dumps(out), flush=True)
"""


class Rig:
    """N caller processes of one cached task on one FLYTE_HOME, and what they leave behind."""

    def __init__(self, tmp_path: Path, home: Path, ttl: float, **env: str) -> None:
        self.dir = tmp_path / "mod"
        self.dir.mkdir()
        (self.dir / "lease_mod.py").write_text(textwrap.dedent(MODULE))
        self.log = tmp_path / "side_effects.log"
        self.log.touch()
        self.go = tmp_path / "go"
        self.home = home
        self.ttl = ttl
        self.env = dict(
            os.environ,
            PYTHONPATH=str(self.dir),
            FLYTE_HOME=str(home),
            SIDE_LOG=str(self.log),
            GO_FILE=str(self.go),
            FLYTE_CACHE_LEASE_SECONDS=str(ttl),
            PYTHONDONTWRITEBYTECODE="1",
            **env,
        )
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, n: int) -> None:
        for _ in range(n):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", CALLER],
                    env=self.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

    def lines(self, what: str) -> list[tuple[int, float]]:
        out = []
        for line in self.log.read_text().splitlines():
            word, pid, at = line.split()
            if word == what:
                out.append((int(pid), float(at)))
        return out

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        return [e for e in _all_events(self.home) if event is None or e["event"] == event]

    def proc(self, pid: int) -> subprocess.Popen[str]:
        return next(p for p in self.procs if p.pid == pid)

    def results(self, timeout: float = 90) -> dict[int, dict[str, Any]]:
        out = {}
        for p in self.procs:
            stdout, stderr = p.communicate(timeout=timeout)
            if p.returncode == -signal.SIGKILL:
                continue
            found = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
            assert found, f"caller {p.pid} printed no result (rc={p.returncode}):\n{stderr[-3000:]}"
            out[p.pid] = json.loads(found[-1][len("RESULT ") :])
        return out

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def rig_factory(tmp_path: Path, flyte_home: Path) -> Any:
    made: list[Rig] = []

    def make(ttl: float, **env: str) -> Rig:
        r = Rig(tmp_path, flyte_home, ttl, **env)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.01)


def freeze_outside_a_transaction(proc: subprocess.Popen[str], home: Path) -> float:
    """SIGSTOP ``proc`` at a moment it holds no journal write lock, and return when it stopped.

    A process frozen inside a SQLite write transaction blocks every writer of that journal until it
    resumes (a limit of SQLite, not of leases); the heartbeat's transactions last milliseconds, so
    the test just stops the owner again when it caught one."""
    for _ in range(100):
        proc.send_signal(signal.SIGSTOP)
        wait_for(lambda: _state(proc.pid) == "T", 5, "the owner to stop")
        conn = sqlite3.connect(str(home / "journal.db"), timeout=0.05)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return time.time()
        except sqlite3.OperationalError:  # caught inside a transaction: let it finish, try again
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)
        finally:
            conn.close()
    raise AssertionError("the owner was inside a journal transaction at every try")


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[-1].split()[0].decode()


def root_actions(home: Path) -> dict[str, sqlite3.Row]:
    conn = sqlite3.connect(str(home / "journal.db"), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT run, status, cache_hit FROM actions WHERE parent_id IS NULL").fetchall()
    finally:
        conn.close()
    return {r["run"]: r for r in rows}


def test_four_processes_one_execution_three_reuse(rig_factory: Any) -> None:
    rig = rig_factory(ttl=1.0)
    rig.start(4)
    (owner_pid, started), *_ = wait_for(lambda: rig.lines("start"), 60, "the first execution")
    wait_for(lambda: len(rig.events("waiting")) == 3, 60, "three callers waiting on the lease")
    # Hold the owner past two TTLs: only its heartbeat keeps the lease (and the waiters) in place.
    wait_for(lambda: time.time() - started > 2 * rig.ttl, 10, "the owner to outlive two lease TTLs")
    assert len(rig.lines("start")) == 1
    rig.go.touch()
    results = rig.results()

    assert [r["value"] for r in results.values()] == [49] * 4, results
    assert len(rig.lines("start")) == 1 and len(rig.lines("end")) == 1  # exactly one execution
    owner_run = results[owner_pid]["run"]
    finished = rig.lines("end")[0][1]
    reused_in = sorted(r["done"] - finished for pid, r in results.items() if pid != owner_pid)

    roots = root_actions(rig.home)
    assert {r["run"] for r in results.values()} == set(roots)
    assert [roots[owner_run]["cache_hit"]] == [0]
    assert sorted(roots[r["run"]]["cache_hit"] for pid, r in results.items() if pid != owner_pid) == [1] * 3
    assert all(a["status"] == "SUCCEEDED" for a in roots.values())
    # The history: one lease taken and released, three waits, three reuses naming the owner's run.
    assert [e["run"] for e in rig.events("acquired")] == [owner_run]
    reused = rig.events("reused")
    assert sorted(e["run"] for e in reused) == sorted(r["run"] for p, r in results.items() if p != owner_pid)
    assert {e["other_run"] for e in reused} == {owner_run}
    assert [(e["run"], e["detail"]) for e in rig.events("released")] == [(owner_run, "succeeded")]
    assert rig.events("took_over") == [] and rig.events("lost") == []
    waiter_run = reused[0]["run"]
    shown = CliRunner().invoke(cli, ["runs", "show", waiter_run])
    assert shown.exit_code == 0, shown.output
    assert "cache hit" in shown.output and f"reused the result of run {owner_run}" in shown.output
    as_json = json.loads(CliRunner().invoke(cli, ["runs", "show", waiter_run, "--json"]).output)
    assert [e["event"] for e in as_json["cache_leases"]] == ["waiting", "reused"]
    print(
        f"\nFIGURES: 4 processes, 1 execution (body held {finished - started:.2f}s, lease TTL {rig.ttl:g}s),"
        f" 3 waiters reused in {', '.join(f'{s:.3f}' for s in reused_in)} s after the owner's body ended"
    )


def test_killed_owner_is_taken_over(rig_factory: Any) -> None:
    rig = rig_factory(ttl=2.0)
    rig.start(3)
    (owner_pid, _), *_ = wait_for(lambda: rig.lines("start"), 60, "the first execution")
    wait_for(lambda: len(rig.events("waiting")) == 2, 60, "two callers waiting on the lease")
    owner = rig.proc(owner_pid)
    owner.send_signal(signal.SIGKILL)
    killed_at = time.time()
    owner.wait()
    rig.go.touch()  # the next execution may finish at once
    starts = wait_for(lambda: len(rig.lines("start")) == 2 and rig.lines("start"), rig.ttl + 5, "a takeover")
    taker_pid, taken_at = starts[1]
    takeover_s = taken_at - killed_at
    assert takeover_s < rig.ttl + 3
    results = rig.results()

    assert sorted(results) == sorted(p.pid for p in rig.procs if p.pid != owner_pid)
    assert [r["value"] for r in results.values()] == [49, 49], results
    assert len(rig.lines("start")) == 2 and len(rig.lines("end")) == 1  # the killed one and the takeover
    (took,) = rig.events("took_over")
    assert took["run"] == results[taker_pid]["run"]
    assert took["other_owner"].split("/")[3].startswith(f"{owner_pid}@")
    assert took["detail"] in ("owner process gone", "lease expired")
    (reused,) = rig.events("reused")
    assert reused["other_run"] == results[taker_pid]["run"]
    shown = CliRunner().invoke(cli, ["runs", "show", results[taker_pid]["run"]])
    assert "took over cache key" in shown.output and f"/{owner_pid}@" in shown.output, shown.output
    # The killed run, recovered later, finds the takeover's entry: nothing runs a third time.
    killed_run = took["other_owner"].split("/")[0]
    recovered = flyte.rerun(killed_run, recover=True)
    assert recovered.outputs()[0] == 49 and len(rig.lines("start")) == 2
    assert root_actions(rig.home)[killed_run]["cache_hit"] == 1
    print(f"\nFIGURES: owner SIGKILLed: takeover in {takeover_s:.3f} s ({took['detail']}; TTL {rig.ttl:g}s)")


def test_frozen_owner_loses_its_lease_after_the_ttl(rig_factory: Any) -> None:
    """A stopped (SIGSTOP) owner is alive but sends no heartbeat: its lease expires and a waiter takes
    over within the TTL; when it resumes it finishes too (the one case that runs twice), and the
    history says its lease was taken over."""
    rig = rig_factory(ttl=2.0)
    rig.start(2)
    (owner_pid, _), *_ = wait_for(lambda: rig.lines("start"), 60, "the first execution")
    wait_for(lambda: len(rig.events("waiting")) == 1, 60, "the other caller waiting on the lease")
    owner = rig.proc(owner_pid)
    stopped_at = freeze_outside_a_transaction(owner, rig.home)
    try:
        starts = wait_for(
            lambda: len(rig.lines("start")) == 2 and rig.lines("start"), rig.ttl + 5, "a takeover"
        )
    finally:
        rig.go.touch()
        owner.send_signal(signal.SIGCONT)
    takeover_s = starts[1][1] - stopped_at
    # Renewed every TTL/3, so the lease outlives the freeze by at least 2/3 of the TTL.
    assert rig.ttl / 2 < takeover_s < rig.ttl + 3
    results = rig.results()
    assert [r["value"] for r in results.values()] == [49, 49]
    (took,) = rig.events("took_over")
    assert took["detail"] == "lease expired" and took["run"] == results[starts[1][0]]["run"]
    owner_run = results[owner_pid]["run"]
    lost = [e for e in rig.events("lost") if e["run"] == owner_run]
    released = [e for e in rig.events("released") if e["run"] == owner_run]
    assert lost or "taken over" in released[0]["detail"]
    print(
        f"\nFIGURES: owner frozen (SIGSTOP): takeover after {takeover_s:.3f} s"
        f" (lease expired; TTL {rig.ttl:g}s)"
    )


def test_failed_owner_hands_over_to_one_waiter(rig_factory: Any) -> None:
    rig = rig_factory(ttl=2.0, FAIL_FIRST="1")
    rig.start(3)
    (owner_pid, _), *_ = wait_for(lambda: rig.lines("start"), 60, "the first execution")
    wait_for(lambda: len(rig.events("waiting")) == 2, 60, "two callers waiting on the lease")
    rig.go.touch()
    results = rig.results()

    failed = results.pop(owner_pid)
    assert not failed["ok"] and "the first owner fails" in failed["message"]
    assert [r["value"] for r in results.values()] == [49, 49]  # the owner's error is not theirs
    assert len(rig.lines("start")) == 2 and len(rig.lines("fail")) == 1 and len(rig.lines("end")) == 1
    assert [e["detail"] for e in rig.events("released")] == ["failed", "succeeded"]
    acquired = rig.events("acquired")
    assert len(acquired) == 2 and rig.events("took_over") == []  # a clean hand-over, not a takeover
    (reused,) = rig.events("reused")
    assert reused["other_run"] == acquired[1]["run"]


env = flyte.TaskEnvironment(name="lease_inproc")


@env.task(cache=flyte.Cache(behavior="auto", serialize=True))
async def doubled(x: int) -> int:
    return 2 * x


def test_bad_lease_ttl_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_CACHE_LEASE_SECONDS", "soon")
    with pytest.raises(InvalidParameterError, match="FLYTE_CACHE_LEASE_SECONDS"):
        flyte.run(doubled, x=1)
    monkeypatch.setenv("FLYTE_CACHE_LEASE_SECONDS", "0")
    with pytest.raises(InvalidParameterError, match=r">= 0\.5"):
        flyte.run(doubled, x=1)
    monkeypatch.setenv("FLYTE_CACHE_LEASE_SECONDS", "5")
    assert flyte.run(doubled, x=1).outputs()[0] == 2


def test_only_one_of_many_simultaneous_acquirers_wins(flyte_home: Path) -> None:
    """The journal's claim is one transaction: of many connections trying at once, one acquires."""
    path = str(flyte_home / "journal.db")
    journals = [Journal(path) for _ in range(8)]
    owners = [LeaseOwner(f"r{i}", "a", 0, os.getpid(), "h") for i in range(8)]
    barrier = threading.Barrier(8)

    def claim(i: int) -> LeaseAttempt:
        barrier.wait()
        return journals[i].lease_try_acquire("k", owners[i], 5.0, None, lambda h: False)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(claim, range(8)))
    winners = [i for i, g in enumerate(got) if g.outcome == "acquired"]
    assert len(winners) == 1
    (w,) = winners
    assert all(g.holder is not None and g.holder.owner == owners[w].id for i, g in enumerate(got) if i != w)
    assert not journals[w - 1].lease_release("k", owners[w - 1].id, "succeeded")  # it never held it
    assert journals[w].lease_release("k", owners[w].id, "succeeded")
    assert journals[0].lease_holder("k") is None
    for j in journals:
        j.close()


gate = threading.Event()
bodies: list[int] = []


@env.task(cache=flyte.Cache(behavior="auto", serialize=True))
async def gated(x: int) -> int:
    bodies.append(x)
    while not gate.is_set():
        await asyncio.sleep(0.01)
    return x + 1


def test_two_runs_in_one_process_share_the_lease(flyte_home: Path) -> None:
    """Runs on two threads of one process (two controllers): one computes, the other waits for it
    (the same-process holder is alive, so nothing is taken over)."""
    gate.clear()
    bodies.clear()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(flyte.run, gated, x=5)
        wait_for(lambda: bodies, 30, "the first body")
        second = pool.submit(flyte.run, gated, x=5)
        try:
            wait_for(lambda: any(e["event"] == "waiting" for e in _all_events(flyte_home)), 30, "the waiter")
        finally:
            gate.set()
        runs = [first.result(timeout=30), second.result(timeout=30)]
    assert [r.outputs()[0] for r in runs] == [6, 6] and bodies == [5]
    assert [e["event"] for e in _all_events(flyte_home)] == ["acquired", "waiting", "released", "reused"]


def _all_events(home: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(str(home / "journal.db"), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM cache_lease_events ORDER BY at, rowid")]
    except sqlite3.OperationalError:  # no lease taken yet: the table is created on first use
        return []
    finally:
        conn.close()


@env.task(cache=flyte.Cache(behavior="auto", serialize=True))
async def brief(x: int) -> int:
    await asyncio.sleep(0.002 * (x % 7))
    return x


@env.task
async def many_brief(n: int, base: int) -> int:
    return sum(await asyncio.gather(*(brief(base + i) for i in range(n))))


def test_heartbeats_racing_releases_record_no_loss(
    flyte_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Hundreds of leases taken and released while the heartbeat renews (TTL 0.5 s: a beat every
    0.17 s): a lease released between a beat's snapshot and its write is not reported as lost."""
    monkeypatch.setenv("FLYTE_CACHE_LEASE_SECONDS", "0.5")
    start = time.monotonic()
    runs = 0
    while runs < 3 or time.monotonic() - start < 1.5:  # long enough for several beats
        assert time.monotonic() - start < 60
        assert flyte.run(many_brief, n=300, base=1000 * runs).outputs()[0] == sum(
            1000 * runs + i for i in range(300)
        )
        runs += 1
    events = _all_events(flyte_home)
    assert [e for e in events if e["event"] in ("lost", "took_over")] == []
    released = [e["detail"] for e in events if e["event"] == "released"]
    assert released == ["succeeded"] * 300 * runs
    assert "taken over" not in caplog.text
