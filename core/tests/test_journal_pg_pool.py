"""Issue 25: a PostgreSQL journal's sessions come from a small psycopg pool: the run lease's
heartbeat does not wait behind the writer's transaction, and no session outlives the journal.

Runs against a real PostgreSQL server (the ``postgres_journal`` fixture of flyte.testing)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import flyte
import pytest
from conftest import spawn
from flyte._runtime.journal import Journal, LeaseOwner, close_journals
from flyte._runtime.journal_backend import POOL_MAX

env = flyte.TaskEnvironment(name="jpool")


@env.task
async def add(x: int, y: int) -> int:
    return x + y


@env.task
async def total(n: int) -> int:
    s = 0
    for i in range(n):
        s = await add(s, i)
    return s


def _sessions(url: str) -> int:
    """Sessions open on the journal's database, besides the one asking."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _settle(url: str, want: int, within: float = 10.0) -> int:
    """The session count once it reached ``want`` (the server sees a closed socket a moment later)."""
    end = time.time() + within
    n = _sessions(url)
    while n != want and time.time() < end:
        time.sleep(0.05)
        n = _sessions(url)
    return n


@pytest.fixture
def pg_url(postgres_journal: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FLYTE_JOURNAL", postgres_journal)
    return postgres_journal


def test_a_run_leaves_no_session_open(pg_url: str) -> None:
    assert _sessions(pg_url) == 0
    run = flyte.with_runcontext(name="pool-run").run(total, n=20)
    assert run.outputs()[0] == sum(range(20))
    during = _sessions(pg_url)
    assert 1 <= during <= POOL_MAX  # the journal stays open for the process's next run
    close_journals()
    assert _settle(pg_url, 0) == 0


def test_a_driver_process_uses_a_few_sessions_and_closes_them(pg_url: str, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "limit").write_text("60")
    proc = spawn(
        "import flyte, chain_app, time;"
        f" flyte.with_runcontext(name='pool-proc').run(chain_app.main, n=10**6, workdir={str(workdir)!r})",
        home=tmp_path / "home",
        FLYTE_RUN_LEASE_SECONDS="0.6",  # a heartbeat every 0.2 s: its session is in use during the run
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _sessions(pg_url))
        time.sleep(0.02)
    _out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert 1 <= peak <= POOL_MAX
    assert "Traceback" not in err and "pool" not in err.lower(), err  # closed at exit without noise
    assert _settle(pg_url, 0) == 0


def test_the_heartbeat_does_not_wait_behind_a_write_transaction(pg_url: str) -> None:
    j = Journal(pg_url)
    try:
        assert j.run_lease_take("r", "A", "host-a", 1, 30.0, lambda h: False) is None
        began, done = threading.Event(), threading.Event()

        def long_write() -> None:  # the writer inside one long transaction, holding the journal
            with j.lock:
                j.conn.execute("BEGIN IMMEDIATE")
                j.conn.execute("UPDATE runs SET status='x' WHERE name='none'")
                began.set()
                done.wait(10)
                j.conn.execute("COMMIT")

        t = threading.Thread(target=long_write)
        t.start()
        try:
            assert began.wait(10)
            t0 = time.monotonic()
            assert j.run_lease_renew("r", "A", 30.0)
            assert j.run_lease_get("r").expires_at > time.time() + 25  # type: ignore[union-attr]
            assert time.monotonic() - t0 < 2.0
            assert not done.is_set()  # the renewal did not wait for the transaction's end
        finally:
            done.set()
            t.join()
    finally:
        j.close()
    assert _settle(pg_url, 0) == 0


def test_the_cache_lease_heartbeat_does_not_wait_behind_a_group_commit(pg_url: str) -> None:
    j = Journal(pg_url)
    try:
        owner = LeaseOwner("r", "a0", 0, 1, "host-a")
        assert j.lease_try_acquire("k", owner, 30.0, None, lambda h: False).outcome == "acquired"
        began, done = threading.Event(), threading.Event()

        def group_commit() -> None:  # a run's group commit (plain BEGIN), held open, with the lock
            with j.lock:
                j.conn.execute("BEGIN")
                j.conn.execute("UPDATE runs SET status='x' WHERE name='none'")
                began.set()
                done.wait(10)
                j.conn.execute("COMMIT")

        t = threading.Thread(target=group_commit)
        t.start()
        try:
            assert began.wait(10)
            t0 = time.monotonic()
            assert j.lease_renew([("k", owner.id, 30.0)]) == []
            assert j.lease_renew([("other", owner.id, 30.0)]) == [("other", owner.id)]  # not held
            assert time.monotonic() - t0 < 2.0 and not done.is_set()
        finally:
            done.set()
            t.join()
    finally:
        j.close()
