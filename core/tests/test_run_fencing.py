"""Issue 25: a driver whose run was taken over stops acting as its owner (lease fencing).

Driver A runs a chain; it is frozen (SIGSTOP) past its lease's TTL; driver B (another FLYTE_HOME
and FLYTE_HOST_ID: another host) recovers the run and finishes it; A is thawed (SIGCONT). A must
stop with :class:`flyte.errors.RunOwnershipLostError` naming the run and B's host, and must not
write anything more into the journal: its contents are compared before and after A is thawed.
Real processes on each backend (SQLite, and a real PostgreSQL server).
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import spawn
from flyte._runtime.journal import open_journal

TTL = 1.5
TABLES = ("runs", "actions", "attempts", "segments", "run_leases", "cache")


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        url = str(tmp_path / "shared" / "journal.db")
    else:
        url = request.getfixturevalue("postgres_journal")
    monkeypatch.setenv("FLYTE_JOURNAL", url)
    monkeypatch.setenv("FLYTE_RUN_LEASE_SECONDS", str(TTL))
    return url


def _contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the run tables, in a stable order (read on a connection of its own)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            for t in TABLES:
                rows = conn.execute(f"SELECT * FROM {t}").fetchall()
                out[t] = sorted((tuple(r) for r in rows), key=repr)
        return out
    conn = sqlite3.connect(url)
    try:
        for t in TABLES:
            out[t] = sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
    finally:
        conn.close()
    return out


def _in_transaction(url: str) -> bool:
    """Does the frozen driver hold the SQLite journal's writer lock (frozen inside a commit)?"""
    conn = sqlite3.connect(url, timeout=0.2, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def _freeze(proc: Any, url: str) -> None:
    """SIGSTOP the driver. On SQLite, between two commits: frozen inside one, it would hold the
    file's writer lock until thawed (one host's file: its driver is not expected to freeze). On
    PostgreSQL anywhere: the driver taking over ends the frozen driver's session, locks and all."""
    if url.startswith("postgresql://"):
        proc.send_signal(signal.SIGSTOP)
        return
    for _ in range(100):
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.05)
        if not _in_transaction(url):
            return
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the driver never paused outside a transaction")


def _lines(workdir: Path) -> list[str]:
    p = workdir / "marker.txt"
    return p.read_text().splitlines() if p.exists() else []


def _start_chain_on_host_a(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any]:
    """Driver A (host-a) runs run 'fenced', an endless chain; this process becomes host-b."""
    monkeypatch.setenv("FLYTE_RAW_DATA_PATH", (tmp_path / "store").as_uri())
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = spawn(
        "import flyte, chain_app;"
        f" flyte.with_runcontext(name='fenced').run(chain_app.main, n=10**6, workdir={str(workdir)!r})",
        home=tmp_path / "home-a",
        FLYTE_HOST_ID="host-a",
    )
    monkeypatch.setenv("FLYTE_HOME", str(tmp_path / "home-b"))
    monkeypatch.setenv("FLYTE_HOST_ID", "host-b")
    return workdir, proc


def test_a_driver_taken_over_stops_and_writes_nothing_more(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir, proc = _start_chain_on_host_a(tmp_path, monkeypatch)
    j = open_journal(journal_url)
    try:
        end = time.time() + 60
        while sum(ln.startswith("ack") for ln in _lines(workdir)) < 10:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < end, "the chain did not start"
            time.sleep(0.01)
        _freeze(proc, journal_url)  # A freezes: no heartbeat, no write
        acked = sum(ln.startswith("ack") for ln in _lines(workdir))
        (workdir / "limit").write_text(str(acked + 5))
        lease = j.run_lease_get("fenced")
        assert lease is not None and lease.host == "host-a"
        while time.time() < lease.expires_at + 0.1:
            time.sleep(0.05)
        run = flyte.rerun("fenced", recover=True)  # B takes the run over and finishes it
        assert run.status == "SUCCEEDED", run.error
        assert run.outputs()[0] == acked + 5
        before = _contents(journal_url)
        assert next(r for r in before["runs"] if r[0] == "fenced")[6] == "SUCCEEDED"

        (workdir / "limit").unlink()  # A's chain has no end of its own now: only the fence stops it
        lines = len(_lines(workdir))
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
        assert len(_lines(workdir)) - lines <= 2, _lines(workdir)[lines:]  # at most its step in flight
    finally:
        proc.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode != 0, out
    assert "RunOwnershipLostError" in err, err
    assert "run 'fenced'" in err and "host 'host-b'" in err and "now owns it" in err, err
    time.sleep(2 * TTL)  # A's heartbeat thread, had it survived, would have written by now
    after = _contents(journal_url)  # nothing A did after the takeover reached the journal
    changed = {t: (set(before[t]) ^ set(after[t])) for t in TABLES if before[t] != after[t]}
    assert not changed
    assert open_journal(journal_url).get_run("fenced").status == "SUCCEEDED"  # type: ignore[union-attr]


def test_the_error_names_the_run_and_new_owner_and_survives_pickling() -> None:
    import pickle

    import flyte.errors

    e = flyte.errors.RunOwnershipLostError("r1", "host-b", "host-b/7/abc", "run 'r1': taken over")
    back = pickle.loads(pickle.dumps(e))
    assert (back.run, back.host, back.owner, str(back), back.code) == (
        "r1",
        "host-b",
        "host-b/7/abc",
        "run 'r1': taken over",
        "RunOwnershipLost",
    )
    assert isinstance(back, flyte.errors.RuntimeSystemError)
    assert not isinstance(back, flyte.errors.StorageError)  # not retried as a storage fault


def _unapplied_redo(url: str) -> int:
    """How many records the frozen driver's redo log holds past the mark SQLite has applied."""
    from flyte._runtime import redo

    d = Path(redo.log_dir(url))
    conn = sqlite3.connect(url)
    try:
        most = 0
        for log in d.glob("*.log") if d.exists() else []:
            records = redo.parse(log.read_bytes())
            row = conn.execute(
                "SELECT value FROM journal_info WHERE name=?", (redo.mark_name(log.name),)
            ).fetchone()
            done = int(row[0]) if row else 0
            most = max(most, sum(seq > done for seq, _, _ in records))
        return most
    finally:
        conn.close()


def test_a_taken_over_driver_killed_while_frozen_leaves_no_steps_to_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's redo log (issue 20) holds a chain's last steps before they reach the database. A
    driver frozen with such steps, taken over, then killed (never thawed) leaves that log behind:
    the next process to open the journal must drop it, not apply the old owner's steps over the
    record of the run the new owner finished."""
    url = str(tmp_path / "shared" / "journal.db")
    monkeypatch.setenv("FLYTE_JOURNAL", url)
    monkeypatch.setenv("FLYTE_RUN_LEASE_SECONDS", str(TTL))
    workdir, proc = _start_chain_on_host_a(tmp_path, monkeypatch)
    try:
        end = time.time() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < end, "the driver never froze with steps only in its redo log"
            if sum(ln.startswith("ack") for ln in _lines(workdir)) >= 10:
                _freeze(proc, url)
                if _unapplied_redo(url) > 0:
                    break
                proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)
        acked = sum(ln.startswith("ack") for ln in _lines(workdir))
        (workdir / "limit").write_text(str(acked + 5))
        j = open_journal(url)
        lease = j.run_lease_get("fenced")
        assert lease is not None and lease.host == "host-a"
        while time.time() < lease.expires_at + 0.1:
            time.sleep(0.05)
        run = flyte.rerun("fenced", recover=True)  # B takes the run over and finishes it
        assert run.status == "SUCCEEDED", run.error
        before = _contents(url)
        proc.kill()  # A dies frozen: its redo log is left, unlocked
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    open_journal(url)  # opening replays the logs of dead writers
    assert _contents(url) == before
    assert not list(Path(url + "-redo").glob("*.log"))
    assert open_journal(url).get_run("fenced").status == "SUCCEEDED"  # type: ignore[union-attr]


def _stopped(pid: int) -> bool:
    """Has the process stopped itself (state ``T`` in /proc)?"""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def test_a_driver_taken_over_right_before_its_run_end_records_no_end(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's end (status, end time, segment) is itself a fenced write: driver A, stopped after
    its tasks finished and its last lease check passed, just before it records the run's end, is
    taken over by B, which records the run's end; thawed, A records nothing over B's record."""
    monkeypatch.setenv("FLYTE_RAW_DATA_PATH", (tmp_path / "store").as_uri())
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = spawn(
        "import flyte, chain_app;"
        f" flyte.with_runcontext(name='fenced').run(chain_app.main, n=3, workdir={str(workdir)!r})",
        home=tmp_path / "home-a",
        FLYTE_HOST_ID="host-a",
        FLYTE_TEST_STOP_AT="run-end",  # A stops itself right before its run-end write
    )
    monkeypatch.setenv("FLYTE_HOME", str(tmp_path / "home-b"))
    monkeypatch.setenv("FLYTE_HOST_ID", "host-b")
    j = open_journal(journal_url)
    try:
        end = time.time() + 60
        while not _stopped(proc.pid):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < end, "the driver never reached its run's end"
            time.sleep(0.02)
        assert _lines(workdir)[-1] == "ack 2"  # every step done: only the run's end is left
        frozen_row = j.get_run("fenced")
        assert frozen_row is not None and frozen_row.status == "RUNNING"
        lease = j.run_lease_get("fenced")
        assert lease is not None and lease.host == "host-a"
        while time.time() < lease.expires_at + 0.1:
            time.sleep(0.05)
        run = flyte.rerun("fenced", recover=True)  # B takes the run over and records its end
        assert run.status == "SUCCEEDED", run.error
        assert run.outputs()[0] == 3
        before = _contents(journal_url)
        b_row = j.get_run("fenced")
        assert b_row is not None and b_row.status == "SUCCEEDED" and b_row.pid != proc.pid
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode != 0, out
    assert "RunOwnershipLostError" in err and "host 'host-b'" in err, err
    after = _contents(journal_url)
    changed = {t: (set(before[t]) ^ set(after[t])) for t in TABLES if before[t] != after[t]}
    assert not changed  # the run's row and segments are B's: A's end time never landed
    assert open_journal(journal_url).get_run("fenced") == b_row


def _wait_stopped(proc: Any) -> None:
    end = time.time() + 60
    while not _stopped(proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < end, "the driver never reached its pause point"
        time.sleep(0.02)


def test_a_recovering_driver_taken_over_before_it_reopens_the_run_writes_nothing(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's start of a recovery (a new segment, the run marked running again) is fenced too:
    driver A took the lease of an interrupted run and froze before reopening it; B recovered and
    finished it meanwhile; thawed, A must not mark B's finished run running again."""
    monkeypatch.setenv("FLYTE_RAW_DATA_PATH", (tmp_path / "store").as_uri())
    workdir = tmp_path / "work"
    workdir.mkdir()
    code = (
        "import flyte, chain_app;"
        " flyte.with_runcontext(name='fenced'{}).run(chain_app.main, n=3, workdir={!r})"
    )
    # An interrupted run: its first driver is killed right before recording its end.
    first = spawn(
        code.format("", str(workdir)),
        home=tmp_path / "home-a",
        FLYTE_HOST_ID="host-a",
        FLYTE_TEST_STOP_AT="run-end",
    )
    try:
        _wait_stopped(first)
    finally:
        first.kill()
        first.wait(timeout=10)
    proc = spawn(  # A recovers it (the lease's holder died on its host: taken at once), then stops
        "import flyte; flyte.rerun('fenced', recover=True)",
        home=tmp_path / "home-a",
        FLYTE_HOST_ID="host-a",
        FLYTE_TEST_STOP_AT="run-start",
    )
    monkeypatch.setenv("FLYTE_HOME", str(tmp_path / "home-b"))
    monkeypatch.setenv("FLYTE_HOST_ID", "host-b")
    j = open_journal(journal_url)
    try:
        _wait_stopped(proc)
        lease = j.run_lease_get("fenced")
        assert lease is not None and lease.host == "host-a" and lease.pid == proc.pid
        while time.time() < lease.expires_at + 0.1:
            time.sleep(0.05)
        run = flyte.rerun("fenced", recover=True)  # B takes the run over and finishes it
        assert run.status == "SUCCEEDED", run.error
        before = _contents(journal_url)
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode != 0, out
    assert "RunOwnershipLostError" in err and "host 'host-b'" in err, err
    after = _contents(journal_url)
    changed = {t: (set(before[t]) ^ set(after[t])) for t in TABLES if before[t] != after[t]}
    assert not changed  # no segment of A's, the run still B's finished one
    assert open_journal(journal_url).get_run("fenced").status == "SUCCEEDED"  # type: ignore[union-attr]


def test_abort_is_refused_while_a_driver_elsewhere_holds_the_runs_lease(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Run.abort()`` marks an interrupted run aborted: the run row names the host that created it
    and the pid of its latest driver, so after a recovery on another host the run can look
    interrupted here. The run's live lease decides: while it is held, abort refuses (naming the
    driver's host) and writes nothing; once it expired, abort proceeds."""
    import flyte.remote
    from flyte.errors import RuntimeUserError

    monkeypatch.setenv("FLYTE_RAW_DATA_PATH", (tmp_path / "store").as_uri())
    monkeypatch.setenv("FLYTE_HOST_ID", "host-a")
    workdir = tmp_path / "work"
    workdir.mkdir()
    drivers = []
    for host, code in (
        (
            "host-a",
            f"flyte.with_runcontext(name='fenced').run(chain_app.main, n=3, workdir={str(workdir)!r})",
        ),
        ("host-b", "flyte.rerun('fenced', recover=True)"),  # recovers it on another host
    ):
        held = open_journal(journal_url).run_lease_get("fenced")
        while held is not None and time.time() < held.expires_at + 0.1:  # host-b waits it out
            time.sleep(0.05)
        proc = spawn(
            f"import flyte, chain_app; {code}",
            home=tmp_path / host,
            FLYTE_HOST_ID=host,
            FLYTE_TEST_STOP_AT="run-end",
        )
        drivers.append(proc)
        try:
            _wait_stopped(proc)
        finally:
            proc.kill()  # it dies holding the lease
            proc.wait(timeout=10)
    lease = open_journal(journal_url).run_lease_get("fenced")
    assert lease is not None and lease.host == "host-b" and lease.pid == drivers[1].pid
    run = flyte.remote.Run.get("fenced")
    assert run.status == "INTERRUPTED"  # seen from host-a: the run row's pid is gone
    before = _contents(journal_url)
    with pytest.raises(RuntimeUserError, match="host-b") as e:
        run.abort()
    assert time.time() < lease.expires_at, "the lease expired before abort was tried: raise TTL"
    assert "holds its lease" in str(e.value)
    assert _contents(journal_url) == before
    while time.time() < lease.expires_at + 0.1:
        time.sleep(0.05)
    run.abort()
    assert flyte.remote.Run.get("fenced").status == "ABORTED"
