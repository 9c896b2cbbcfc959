"""Issue 20: the journal's durability setting, the crash promise of a sequential chain, and the
JSON fast path for primitive values.

A step's result is committed before its parent sees it, even when the commit is made at once
instead of at the next group commit (nothing else ready on the loop): a SIGKILL at any point never
loses a result the parent acknowledged, so no acknowledged step runs again on recovery.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import flyte
import flyte.errors
import pytest
from conftest import spawn
from flyte._runtime.journal import Journal, journal_sync

chain_env = flyte.TaskEnvironment(name="jd_chain")


@chain_env.task
async def tick(x: int) -> int:
    return x + 1


@chain_env.task(timeout=0.3)
async def long_chain(n: int) -> int:
    x = 0
    for _ in range(n):
        x = await tick(x)
    return x


def _synchronous(path: Path) -> int:
    j = Journal(str(path))
    try:
        return int(j.conn.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        j.close()


def test_default_is_wal_normal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLYTE_DURABILITY", raising=False)
    monkeypatch.delenv("FLYTE_JOURNAL_SYNC", raising=False)
    assert _synchronous(tmp_path / "j.db") == 1  # NORMAL: no fsync per commit
    conn = sqlite3.connect(tmp_path / "j.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("FLYTE_DURABILITY", "fsync", 2),
        ("FLYTE_DURABILITY", "FSync", 2),
        ("FLYTE_DURABILITY", "process", 1),
        ("FLYTE_JOURNAL_SYNC", "FULL", 2),  # the older spelling
    ],
)
def test_durability_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: int
) -> None:
    monkeypatch.setenv(env, value)
    assert _synchronous(tmp_path / "j.db") == expected


def test_bad_durability_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_DURABILITY", "always")
    with pytest.raises(flyte.errors.InvalidParameterError, match=r"FLYTE_DURABILITY.*'process'.*'fsync'"):
        journal_sync()


def _lines(workdir: Path) -> list[str]:
    p = workdir / "marker.txt"
    return p.read_text().splitlines() if p.exists() else []


@pytest.mark.parametrize("durability", ["process", "fsync"])
def test_sigkill_mid_chain_loses_no_acknowledged_step(
    tmp_path: Path, flyte_home: Path, durability: str
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = spawn(
        "import flyte, chain_app;"
        f" flyte.with_runcontext(name='chain').run(chain_app.main, n=10**6, workdir={str(workdir)!r})",
        FLYTE_DURABILITY=durability,
    )
    try:
        end = time.time() + 60
        while sum(ln.startswith("ack") for ln in _lines(workdir)) < 30:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < end, "the chain did not start"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    first = _lines(workdir)
    acked = [int(ln.split()[1]) for ln in first if ln.startswith("ack")]
    assert acked == list(range(len(acked)))
    (workdir / "limit").write_text(str(len(acked) + 3))

    run = flyte.rerun("chain", recover=True)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == len(acked) + 3

    runs = Counter(ln for ln in _lines(workdir) if ln.startswith("child"))
    again = [i for i in acked if runs[f"child {i}"] != 1]
    assert not again, f"acknowledged steps ran again after the crash: {again[:10]}"
    assert all(runs[f"child {i}"] >= 1 for i in range(len(acked) + 3))  # the rest ran on recovery


@pytest.mark.parametrize(
    "value",
    [0, -7, 2**70, 1.5, float("nan"), float("inf"), True, None, "", 'é"\\\n\x00', {"b": 1, "a": "x"}, {}],
)
def test_reused_json_encoder_writes_what_json_writes(value: object) -> None:
    """The primitive fast path (one C encoder, built once) stores and hashes exactly what it did."""
    from flyte._runtime import codec

    assert codec._prim_dumps(value) == codec._store_dumps(value)
    assert codec._prim_dumps(value, canonical=True) == codec._dumps(value)


def test_a_long_chain_still_serves_timers() -> None:
    """Commits made without a loop turn leave one every INLINE_RUN steps, so the parent's timeout
    fires in the middle of a chain that would otherwise run for a minute."""
    t0 = time.perf_counter()
    with pytest.raises(Exception) as failed:
        flyte.run(long_chain, n=10**6)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert isinstance(run.error, flyte.errors.TaskTimeoutError)
    assert time.perf_counter() - t0 < 15


_KILLED_WRITER = """
import asyncio, os, signal, sys
from flyte._runtime.journal import ActionRow, open_journal

async def main():
    rj = open_journal(sys.argv[1]).for_run(redo=True)
    for i in range(5):
        row = ActionRow("r", f"a{i}", None, i, "task", "t", None, None, "RUNNING", 1, 0, 1.0, None,
                        b"in", None, None, None, None, None)
        rj.action_started(row)
        await rj.action_finished(row._replace(status="SUCCEEDED", ended_at=2.0, outputs=b"%d" % i))
        print("ack", i, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # before the group commit scheduled for the next loop turn

asyncio.run(main())
"""


def test_a_killed_writers_redo_log_is_applied_on_open(tmp_path: Path) -> None:
    """Steps acknowledged from the redo log only (no SQLite commit yet) are in the journal once
    anyone opens it after the writer died; the log and its mark are removed."""
    import subprocess
    import sys

    from flyte._runtime import redo
    from flyte._runtime.journal import open_journal

    path = str(tmp_path / "j.db")
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, path], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.split() == [w for i in range(5) for w in ("ack", str(i))]
    raw = sqlite3.connect(path)
    before = raw.execute("SELECT COUNT(*) FROM actions WHERE status='SUCCEEDED'").fetchone()[0]
    assert before < 5  # at least the last steps were only in the log
    assert list(Path(redo.log_dir(path)).glob("*.log"))

    open_journal(path)
    rows = raw.execute(
        "SELECT action_id, outputs FROM actions WHERE status='SUCCEEDED' ORDER BY 1"
    ).fetchall()
    assert rows == [(f"a{i}", b"%d" % i) for i in range(5)]
    assert not list(Path(redo.log_dir(path)).glob("*.log"))
    assert raw.execute("SELECT COUNT(*) FROM journal_info WHERE name LIKE 'redo:%'").fetchone()[0] == 0


_KILLED_GROUP_WRITER = """
import asyncio, os, signal, sys
from flyte._runtime.journal import ActionRow, open_journal

async def one(rj, i):
    row = ActionRow("r", f"g{i}", None, i, "task", "t", None, None, "RUNNING", 1, 0, 1.0, None,
                    b"in", None, None, None, None, None)
    rj.action_started(row)
    await asyncio.sleep(0)
    await rj.action_finished(row._replace(status="SUCCEEDED", ended_at=2.0, outputs=b"%d" % i))
    print("ack", i, flush=True)

async def main():
    rj = open_journal(sys.argv[1]).for_run(redo=True)
    for start in range(0, 12, 4):  # results that come back a few at a time (worker processes)
        await asyncio.gather(*(one(rj, i) for i in range(start, start + 4)))
    os.kill(os.getpid(), signal.SIGKILL)  # long before the deferred SQLite commit

asyncio.run(main())
"""


def test_a_small_group_of_results_is_durable_in_the_redo_log(tmp_path: Path) -> None:
    """Results acknowledged a few at a time while other work is on the loop (a fan-out to worker
    processes) go to the redo log instead of one SQLite commit per group, and still survive a
    SIGKILL of the writer."""
    import subprocess
    import sys

    from flyte._runtime import redo
    from flyte._runtime.journal import open_journal

    path = str(tmp_path / "j.db")
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_GROUP_WRITER, path], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert sorted(int(w) for w in proc.stdout.split()[1::2]) == list(range(12))
    raw = sqlite3.connect(path)
    before = raw.execute("SELECT COUNT(*) FROM actions WHERE status='SUCCEEDED'").fetchone()[0]
    assert before == 0  # every group went to the log, none was committed
    assert list(Path(redo.log_dir(path)).glob("*.log"))

    open_journal(path)
    rows = raw.execute(
        "SELECT action_id, outputs FROM actions WHERE status='SUCCEEDED' ORDER BY position"
    ).fetchall()
    assert rows == [(f"g{i}", b"%d" % i) for i in range(12)]


def test_a_cut_frame_is_not_replayed(tmp_path: Path) -> None:
    """A frame a kill cut short (or damaged) ends the log: it was never acknowledged."""
    from flyte._runtime import redo

    log = redo.RedoLog(str(tmp_path / "j.db"), ["S0", "S1"])
    assert log.append("S1", ("a", 1, b"x", None, 2.5))
    assert log.append("S0", ("b",))
    assert not log.append("OTHER", ("c",))  # not a loggable statement: committed directly instead
    data = (Path(redo.log_dir(str(tmp_path / "j.db"))) / log.name).read_bytes()
    assert redo.parse(data) == [(1, 1, ("a", 1, b"x", None, 2.5)), (2, 0, ("b",))]
    assert redo.parse(data[:-1]) == [(1, 1, ("a", 1, b"x", None, 2.5))]
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    assert redo.parse(bytes(damaged)) == [(1, 1, ("a", 1, b"x", None, 2.5))]
    log.close()


def test_a_finished_run_leaves_no_redo_log(flyte_home: Path) -> None:
    from flyte._config import get_settings
    from flyte._runtime import redo

    assert flyte.run(long_chain.override(timeout=60), n=300).outputs()[0] == 300
    path = get_settings().journal_path
    assert not list(Path(redo.log_dir(path)).glob("*.log"))
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM journal_info WHERE name LIKE 'redo:%'").fetchone()[0] == 0
    n = conn.execute(
        "SELECT COUNT(*) FROM actions WHERE status='SUCCEEDED' AND task_name LIKE '%tick'"
    ).fetchone()[0]
    assert n == 300


def test_cache_lookups_see_other_writers_within_the_snapshot_window(tmp_path: Path) -> None:
    """A run's cache lookups share a read transaction for at most READ_SNAPSHOT seconds: another
    process's entry shows after that, and this process's own writes show at once."""
    from flyte._runtime.journal import PUT_CACHE, READ_SNAPSHOT, CacheEntry, Journal

    path = str(tmp_path / "j.db")
    mine, other = Journal(path), Journal(path)  # two connections, as two processes would have
    try:
        assert mine.cache_lookup("k1") is None  # opens the read transaction
        other.commit([(PUT_CACHE, CacheEntry("k1", "t", b"J1", time.time(), "r", "a"))])
        time.sleep(READ_SNAPSHOT * 2)
        assert mine.cache_lookup("k1") == b"J1"
        other.commit([(PUT_CACHE, CacheEntry("k2", "t", b"J2", time.time(), "r", "a"))])
        mine.commit([(PUT_CACHE, CacheEntry("k3", "t", b"J3", time.time(), "r", "a"))])
        assert mine.cache_lookup("k3") == b"J3"  # its own write ends the snapshot
        assert mine.cache_lookup("k2") == b"J2"
        assert mine.cache_clear() == 3
        assert mine.cache_lookup("k1") is None
    finally:
        mine.close()
        other.close()


def test_rows_acknowledged_from_the_log_survive_a_failed_commit(tmp_path: Path) -> None:
    """A deferred commit that fails (another writer holds the lock) keeps the logged rows queued:
    the next commit writes them, none is lost behind the log's mark."""
    import asyncio

    from flyte._runtime.journal import REDO_DELAY, ActionRow, Journal

    path = str(tmp_path / "j.db")
    j = Journal(path)
    j.conn.execute("PRAGMA busy_timeout=20")  # fail fast instead of waiting a minute for the lock
    blocker = sqlite3.connect(path, isolation_level=None)
    fixed = ("r", "a1", None, 0, "task", "t", None, None, "RUNNING", 1, 0, 1.0, None, b"i", None)
    row = ActionRow(*fixed, None, None, None, None)
    rj = j.for_run(redo=True)

    async def main() -> None:
        rj.action_started(row)
        await rj.action_finished(row._replace(status="SUCCEEDED", ended_at=2.0, outputs=b"J2"))
        blocker.execute("BEGIN IMMEDIATE")
        await asyncio.sleep(REDO_DELAY * 3)  # the deferred commit runs and fails
        blocker.execute("ROLLBACK")
        rj.close()

    try:
        asyncio.run(main())
        got = blocker.execute("SELECT status, outputs FROM actions WHERE action_id='a1'").fetchall()
        assert got == [("SUCCEEDED", b"J2")]
    finally:
        blocker.close()
        j.close()
