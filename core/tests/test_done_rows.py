"""A plain child's succeeded row is queued in ``UPSERT_ACTION_DONE``'s 12-value shape (a "done row",
``journal.DONE_LEN``) and bound by the commit as it is (issue 20, tenth round). Every reader of
queued rows must still see it for what it is: a later row of an action replaces an earlier one, a
failed commit puts it back, the redo log replays it, a PostgreSQL journal binds the whole row, and
what is stored is exactly the row the general path stores."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import journal_rows
from flyte._runtime import journal as jmod
from flyte._runtime.journal import (
    DONE_LEN,
    SET_META,
    UPSERT_ACTION,
    UPSERT_ACTION_DONE,
    ActionRow,
    Journal,
    PendingStart,
    RecordingRunJournal,
    _full,
    _whole,
)
from flyte.testing._support import isolate

COLUMNS = ", ".join(ActionRow._fields)


def _row(aid: str, status: str = "SUCCEEDED", **kw: Any) -> ActionRow:
    base = ActionRow(
        "r1", aid, "root", 3, "task", "m.leaf", "ident", "python", status, 1, 0, 1.5, 2.5,
        b'J{"x":1}', b"J2", None, None, "inline", None,
    )  # fmt: skip
    return base._replace(**kw)


def _done(aid: str, position: int = 3, outputs: bytes = b"J2") -> tuple[Any, ...]:
    """``_row(aid, position=..., outputs=...)`` as a done row (what ``_submit_plain`` queues)."""
    blobs = (bytearray(b'J{"x":1}'), bytearray(outputs))
    return ("r1", aid, "root", position, "m.leaf", "ident", 1, 0, 1.5, 2.5, *blobs)


class _Start(PendingStart):
    def __init__(self, aid: str) -> None:
        self.aid = aid

    def running(self) -> ActionRow:
        return _row(self.aid, "RUNNING", outputs=None, ended_at=None)


def _stored(path: Path) -> dict[str, tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"SELECT {COLUMNS}, typeof(inputs), typeof(outputs) FROM actions").fetchall()
    finally:
        conn.close()
    return {r[1]: tuple(r) for r in rows}


def test_a_done_row_is_the_whole_row_the_general_path_stores(tmp_path: Path) -> None:
    assert len(_done("a")) == DONE_LEN
    full = _full(_done("a", 5, b"J7"))
    assert full == tuple(_row("a", position=5, outputs=b"J7"))
    assert full[13].__class__ is bytes and full[14].__class__ is bytes  # bytes again (PostgreSQL's)
    # stored through UPSERT_ACTION_DONE as it is, or whole through UPSERT_ACTION: the same row
    j1, j2 = Journal(str(tmp_path / "a.db")), Journal(str(tmp_path / "b.db"))
    j1.commit([(UPSERT_ACTION_DONE, _done(f"a{i}", i)) for i in range(5)])
    j2.commit([(UPSERT_ACTION, _row(f"a{i}", position=i)) for i in range(5)])
    j1.commit([(UPSERT_ACTION_DONE, _done("one"))])  # the single-statement path
    j2.commit([(UPSERT_ACTION, _row("one"))])
    got = _stored(tmp_path / "a.db")
    assert got == _stored(tmp_path / "b.db")
    assert {r[-2:] for r in got.values()} == {("blob", "blob")}


def _collect_take(rj: jmod.RunJournal) -> list[tuple[str, Any]]:
    pending, _ = rj._take()
    return pending


def test_take_pairs_each_row_with_its_statement() -> None:
    async def scenario() -> tuple[list[tuple[str, Any]], list[tuple[str, Any]], list[Any]]:
        rj = Journal(":memory:").for_run()
        done = [_done(f"d{i}", i) for i in range(4)]
        for i, d in enumerate(done):
            rj.action_running("r1", f"d{i}", _Start(f"d{i}"))
            rj._pending_actions[("r1", f"d{i}")] = d  # its result replaces its start row
        only_done = _collect_take(rj)
        rj.action_running("r1", "s", _Start("s"))  # still running at the commit: built there
        rj.action_started(_row("a", "FAILED", error="x"))
        rj._pending_actions[("r1", "d0")] = done[0]
        rj.action_running("r1", "d1", _Start("d1"))
        rj._pending_actions[("r1", "d1")] = done[1]
        rj.action_started(_row("b", "RUNNING", outputs=None, ended_at=None))
        rj.action_running("r1", "d2", _Start("d2"))  # a done row replaced by a later start row
        rj._pending_actions[("r1", "d2")] = done[2]
        rj.action_running("r1", "d2", _Start("d2"))
        rj.write(SET_META, ("{}", "r1", "a"))
        mixed = _collect_take(rj)
        return only_done, mixed, done

    only_done, mixed, done = asyncio.run(scenario())
    assert only_done == [(UPSERT_ACTION_DONE, d) for d in done]
    assert all(p is d for (_, p), d in zip(only_done, done))  # bound as queued: no copy
    # one row per action; the whole ones first, then the done ones (rows of different actions
    # commute), then the other statements
    assert mixed == [
        (UPSERT_ACTION, _row("s", "RUNNING", outputs=None, ended_at=None)),
        (UPSERT_ACTION, _row("a", "FAILED", error="x")),
        (UPSERT_ACTION, _row("b", "RUNNING", outputs=None, ended_at=None)),
        (UPSERT_ACTION, _row("d2", "RUNNING", outputs=None, ended_at=None)),
        (UPSERT_ACTION_DONE, done[0]),
        (UPSERT_ACTION_DONE, done[1]),
        (SET_META, ("{}", "r1", "a")),
    ]


def test_a_failed_commit_requeues_done_rows(tmp_path: Path) -> None:
    """``_requeue`` (a commit that failed after its rows were acknowledged from the redo log) puts
    done rows back under their action; a row queued since then stays the newer."""

    async def scenario() -> dict[str, tuple[Any, ...]]:
        j = Journal(str(tmp_path / "j.db"))
        rj = j.for_run()
        rj._pending_actions[("r1", "x")] = _done("x")
        rj._pending_actions[("r1", "y")] = _done("y")
        rj.write(SET_META, ('{"m": 1}', "r1", "x"))
        taken, _ = rj._take()
        rj.action_started(_row("y", "FAILED", error="later"))  # newer than the taken done row
        rj._requeue(taken)
        assert rj._pending_actions[("r1", "x")] == _done("x")
        assert rj._pending_actions[("r1", "y")] == _row("y", "FAILED", error="later")
        assert rj._pending == [(SET_META, ('{"m": 1}', "r1", "x"))]
        rj.flush()
        return _stored(tmp_path / "j.db")

    got = asyncio.run(scenario())
    assert got["x"][: len(COLUMNS.split(", "))] == _row("x", meta='{"m": 1}')
    assert got["y"][: len(COLUMNS.split(", "))] == _row("y", "FAILED", error="later")


def test_recording_journal_notes_done_rows() -> None:
    async def scenario() -> set[str]:
        rj = RecordingRunJournal(Journal(":memory:"))
        rj._pending_actions[("r1", "x")] = _done("x")
        rj.action_started(_row("y"))
        rj.flush()
        return rj.take_touched()

    assert asyncio.run(scenario()) == {"x", "y"}


def test_whole_rows_for_postgresql(tmp_path: Path) -> None:
    """A PostgreSQL journal binds whole rows: done rows become ``UPSERT_ACTION`` rows there."""
    plain: list[tuple[str, Sequence[Any]]] = [(UPSERT_ACTION, _row("a")), (SET_META, ("{}", "r1", "a"))]
    assert _whole(plain) is plain
    mixed: list[tuple[str, Sequence[Any]]] = [
        (UPSERT_ACTION, _row("a")),
        (UPSERT_ACTION_DONE, _done("b")),
        (SET_META, ("{}", "r1", "a")),
    ]
    assert _whole(mixed) == [
        (UPSERT_ACTION, _row("a")),
        (UPSERT_ACTION, tuple(_row("b"))),
        (SET_META, ("{}", "r1", "a")),
    ]
    # Journal.commit on a PostgreSQL journal (its connection stood in for by SQLite's: the whole
    # statement is valid in both) never runs the done statement
    j = Journal(str(tmp_path / "j.db"))
    seen: list[str] = []
    real = j.conn

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def execute(self, sql: str, params: Any = ()) -> Any:
            seen.append(sql)
            return real.execute(sql, params)

        def executemany(self, sql: str, rows: Any) -> Any:
            seen.append(sql)
            return real.executemany(sql, rows)

    j.conn = Spy()  # type: ignore[assignment]
    j.pg = True
    j.commit([(UPSERT_ACTION_DONE, _done("one"))])
    batch: list[tuple[str, Sequence[Any]]] = [(UPSERT_ACTION_DONE, _done(f"m{i}", i)) for i in range(3)]
    j.commit([*batch, (UPSERT_ACTION, _row("w"))])
    j.conn, j.pg = real, False
    assert UPSERT_ACTION_DONE not in seen and UPSERT_ACTION in seen
    got = _stored(tmp_path / "j.db")
    assert got["one"][:19] == _row("one")
    assert [got[f"m{i}"][:19] for i in range(3)] == [_row(f"m{i}", position=i) for i in range(3)]


_KILLED_DONE_WRITER = """
import asyncio, os, signal, sys
from flyte._runtime.journal import ActionRow, UPSERT_ACTION_DONE, open_journal

def done(aid, i):
    return ("r", aid, None, i, "t", "ident", 1, 0, 1.0, 2.0, bytearray(b"in"), bytearray(b"%d" % i))

async def one(rj, i):
    rj.action_started(ActionRow("r", f"g{i}", None, i, "task", "t", "ident", "python", "RUNNING", 1, 0,
                                1.0, None, b"in", None, None, None, "inline", None))
    await asyncio.sleep(0)
    await rj._durable(asyncio.get_running_loop(), UPSERT_ACTION_DONE, done(f"g{i}", i))
    print("ack", i, flush=True)

async def main():
    rj = open_journal(sys.argv[1]).for_run(redo=True)
    for i in range(5):  # a sequential chain: each step durable in the log at once
        await rj._durable(asyncio.get_running_loop(), UPSERT_ACTION_DONE, done(f"c{i}", i))
        print("ack", i, flush=True)
    for start in range(0, 8, 4):  # a few at a time: the small group path
        await asyncio.gather(*(one(rj, i) for i in range(start, start + 4)))
    os.kill(os.getpid(), signal.SIGKILL)  # before the deferred SQLite commit

asyncio.run(main())
"""


def test_a_killed_writers_done_rows_are_replayed_whole(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_DONE_WRITER, path], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(proc.stdout.split()) == 2 * 13
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM actions WHERE status='SUCCEEDED'").fetchone()[0] < 13
    jmod.open_journal(path)
    rows = raw.execute(f"SELECT {COLUMNS} FROM actions ORDER BY action_id").fetchall()
    raw.close()

    def whole(aid: str, i: int) -> tuple[Any, ...]:
        return ("r", aid, None, i, "task", "t", "ident", "python", "SUCCEEDED", 1, 0, 1.0, 2.0, b"in",
                b"%d" % i, None, None, "inline", None)  # fmt: skip

    assert rows == sorted([whole(f"c{i}", i) for i in range(5)] + [whole(f"g{i}", i) for i in range(8)])


env = flyte.TaskEnvironment(name="done_rows")


@env.task
async def leaf(x: int) -> int:
    return x * 3


@env.task
async def fan(n: int) -> int:
    total = sum(await asyncio.gather(*(leaf(i) for i in range(n))))
    with flyte.group("g1"):  # a child in a group keeps its whole row (group_name set)
        total += await leaf(100)
    return total


def test_a_plain_fan_out_hands_over_done_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The children's rows reach SQLite through ``UPSERT_ACTION_DONE`` as they were queued (plain
    tuples of DONE_LEN values, small blobs as bytearray), none through ``_upsert_actions``' test."""
    home = isolate(monkeypatch, tmp_path)
    bound: list[tuple[Any, ...]] = []
    tested: list[Any] = []
    real_upsert = Journal._upsert_actions

    def upsert(self: Journal, rows: list[Any]) -> None:
        tested.extend(r[1] for r in rows)
        real_upsert(self, rows)

    real_commit = Journal.commit

    def commit(self: Journal, statements: list[tuple[str, Any]], fence: Any = None) -> None:
        bound.extend(p for sql, p in statements if sql is UPSERT_ACTION_DONE)
        real_commit(self, statements, fence)

    monkeypatch.setattr(Journal, "_upsert_actions", upsert)
    monkeypatch.setattr(Journal, "commit", commit)
    flyte.init()
    run = flyte.with_runcontext(name="done-rows").run(fan, n=50)
    assert run.outputs()[0] == 3 * sum(range(50)) + 300
    rows = journal_rows(home, f"SELECT {COLUMNS} FROM actions")
    stored = {r["action_id"]: tuple(r) for r in rows}
    children = {aid: r for aid, r in stored.items() if r[5].endswith("leaf")}
    assert len(children) == 51
    done_ids = {p[1] for p in bound}
    assert len(done_ids) == 50  # the fan-out's children, not the grouped one
    assert all(p.__class__ is tuple and len(p) == DONE_LEN for p in bound)
    assert all(p[10].__class__ is bytearray and p[11].__class__ is bytearray for p in bound)
    assert not done_ids & set(tested)  # never read back and tested
    grouped = [r for r in children.values() if r[16] == "g1"]
    assert len(grouped) == 1 and grouped[0][1] not in done_ids
    for p in bound:
        assert stored[p[1]] == _full(p)


def test_take_builds_a_parents_start_row_in_place_among_its_childrens_done_rows() -> None:
    """A fan-out's commit holds the parent's start row (still running) and its children's done rows:
    only the start row is built (once), every done row is bound as queued, the order kept
    (issue 20, eleventh round: the rows are paired in C, not by a Python loop over all of them)."""
    built: list[str] = []

    class Counted(_Start):
        def running(self) -> ActionRow:
            built.append(self.aid)
            return super().running()

    async def scenario() -> list[tuple[str, Any]]:
        rj = Journal(":memory:").for_run()
        rj.action_running("r1", "parent", Counted("parent"))
        for i in range(50):
            rj._pending_actions[("r1", f"d{i}")] = _done(f"d{i}", i)
        rj.action_running("r1", "late", Counted("late"))  # another start, after the done rows
        rj.action_started(_row("w", "FAILED", error="x"))
        return _collect_take(rj)

    got = asyncio.run(scenario())
    assert built == ["parent", "late"]
    assert got[:3] == [
        (UPSERT_ACTION, _row("parent", "RUNNING", outputs=None, ended_at=None)),
        (UPSERT_ACTION, _row("late", "RUNNING", outputs=None, ended_at=None)),
        (UPSERT_ACTION, _row("w", "FAILED", error="x")),
    ]
    assert [sql for sql, _ in got[3:]] == [UPSERT_ACTION_DONE] * 50
    assert [p[1] for _, p in got[3:]] == [f"d{i}" for i in range(50)]
    assert all(p.__class__ is tuple and len(p) == DONE_LEN for _, p in got[3:])
