"""Action rows take a shorter statement when their error, group and meta are unset (issue 20, sixth
round), and a shorter one still when they are a succeeded Python task's (eighth round): what is
stored must be exactly the row given, in the order given, whichever statement wrote it, and a later
row of an action must still keep the meta an earlier one recorded."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from flyte._runtime.journal import (
    UPSERT_ACTION,
    UPSERT_ACTION_DONE,
    UPSERT_ACTION_SHORT,
    ActionRow,
    Journal,
)

COLUMNS = ", ".join(ActionRow._fields)


def _row(aid: str, status: str = "SUCCEEDED", **kw: object) -> ActionRow:
    base = ActionRow(
        "r1", aid, "root", 3, "task", "m.leaf", "ident", "python", status, 1, 0, 1.5, 2.5,
        b'J{"x":1}', b"J2", None, None, "inline", None,
    )  # fmt: skip
    return base._replace(**kw)


def _stored(path: Path) -> dict[str, ActionRow]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"SELECT {COLUMNS} FROM actions").fetchall()
    finally:
        conn.close()
    return {r[1]: ActionRow(*r) for r in rows}


class _Spy:
    """The journal's own sqlite3 connection, noting which statement text each call ran."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.seen: list[str] = []
        self.calls: list[tuple[str, int]] = []  # (statement, rows) per executemany

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self.seen.append(sql)
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        rows = list(rows)
        self.seen += [sql] * len(rows)
        self.calls.append((sql, len(rows)))
        return self.conn.executemany(sql, rows)


def _traced(j: Journal) -> list[str]:
    return _spy(j).seen


def _spy(j: Journal) -> _Spy:
    spy = _Spy(j.conn)
    j.conn = spy
    return spy


def test_plain_rows_are_stored_whole_through_the_short_statement(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(str(path))
    seen = _traced(j)
    rows = [
        _row(f"a{i}", position=i, inputs=bytes([i]) * 3, ended_at=None if i % 2 else 9.0) for i in range(20)
    ]
    rows.append(_row("big", inputs=b"x" * 70_000, outputs=b""))  # bound as given, not copied
    j.commit([(UPSERT_ACTION, r) for r in rows])
    assert _stored(path) == {r.action_id: r for r in rows}
    conn = sqlite3.connect(path)
    types = conn.execute("SELECT DISTINCT typeof(inputs), typeof(outputs) FROM actions").fetchall()
    conn.close()
    assert types == [("blob", "blob")]
    # all of them succeeded Python tasks: the statement with those words as its own literals
    assert [s for s in seen if s.startswith("INSERT INTO actions")] == [UPSERT_ACTION_DONE] * 21


def test_mixed_rows_keep_their_order_and_every_column(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(str(path))
    meta = '{"job": "x"}'
    batch = [
        _row("a", "FAILED", error="boom"),  # full statement
        _row("a", "SUCCEEDED", attempts=2),  # then short: the error is cleared, as a bound None would
        _row("b", "RUNNING", outputs=None, ended_at=None),  # short
        _row("b", "RUNNING", meta=meta, outputs=None, ended_at=None),  # full: sets meta
        _row("b", "SUCCEEDED"),  # short: meta kept (the upsert keeps a recorded meta)
        _row("c", group_name="g1"),  # full
        _row("d"),  # short
        _row("e", "RUNNING", outputs=None, ended_at=None),  # short
        _row("e", "FAILED", error="late", outputs=None),  # full, after it: the failure stays
    ]
    j.commit([(UPSERT_ACTION, r) for r in batch])
    got = _stored(path)
    assert got == {
        "a": _row("a", "SUCCEEDED", attempts=2),
        "b": _row("b", "SUCCEEDED", meta=meta),
        "c": _row("c", group_name="g1"),
        "d": _row("d"),
        "e": _row("e", "FAILED", error="late", outputs=None),
    }
    # one more commit of the same keys, now all short: every column replaced, meta kept
    j.commit([(UPSERT_ACTION, _row(k, "ABORTED", position=7)) for k in "abcd"])
    got = _stored(path)
    assert got["b"] == _row("b", "ABORTED", position=7, meta=meta)
    assert got["c"] == _row("c", "ABORTED", position=7)  # group_name replaced by the later row's
    assert got["a"] == _row("a", "ABORTED", position=7)


def test_a_single_row_commit_takes_the_same_statements(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(str(path))
    seen = _traced(j)
    j.commit([(UPSERT_ACTION, _row("a", "RUNNING", outputs=None, ended_at=None))])
    j.commit([(UPSERT_ACTION, _row("a", "FAILED", error="x"))])
    assert _stored(path) == {"a": _row("a", "FAILED", error="x")}
    inserts = [s for s in seen if s.startswith("INSERT INTO actions")]
    assert inserts == [UPSERT_ACTION_SHORT, UPSERT_ACTION]


def test_succeeded_rows_among_others_take_one_statement(tmp_path: Path) -> None:
    """A group commit of start rows, end rows and rows with meta of different actions, alternating
    (a process fan-out's): each row is stored whole, and the succeeded ones go through one statement,
    not one statement per run between the others."""
    path = tmp_path / "j.db"
    j = Journal(str(path))
    spy = _spy(j)
    batch = []
    for i in range(30):
        if i % 3 == 0:
            batch.append(_row(f"s{i}", "RUNNING", position=i, outputs=None, ended_at=None, mode="process"))
        elif i % 3 == 1:
            batch.append(_row(f"d{i}", position=i, cache_hit=i % 2))
        else:
            batch.append(_row(f"x{i}", position=i, kind="trace", task_type="container", meta=f'{{"n": {i}}}'))
    j.commit([(UPSERT_ACTION, r) for r in batch])
    assert _stored(path) == {r.action_id: r for r in batch}
    calls = [c for c in spy.calls if c[0].startswith("INSERT INTO actions")]
    assert calls[0] == (UPSERT_ACTION_DONE, 10)
    assert sorted({c[0] for c in calls[1:]}) == sorted({UPSERT_ACTION_SHORT, UPSERT_ACTION})
    assert sum(n for _, n in calls) == 30


def test_an_action_with_rows_of_both_kinds_keeps_their_order(tmp_path: Path) -> None:
    """A batch where one action has a succeeded row and then a failed one (a replayed redo log can
    hold both): the later row wins, whichever statements wrote them."""
    path = tmp_path / "j.db"
    j = Journal(str(path))
    batch = [
        _row("a", "RUNNING", outputs=None, ended_at=None),
        _row("b"),
        _row("a"),
        _row("b", "FAILED", error="late", outputs=None),
        _row("c"),
        _row("c", "RUNNING", meta='{"k": 1}', outputs=None, ended_at=None),
    ]
    j.commit([(UPSERT_ACTION, r) for r in batch])
    assert _stored(path) == {
        "a": _row("a"),
        "b": _row("b", "FAILED", error="late", outputs=None),
        "c": _row("c", "RUNNING", meta='{"k": 1}', outputs=None, ended_at=None),
    }


def test_only_a_succeeded_python_task_row_takes_the_literal_statement(tmp_path: Path) -> None:
    """Each of the four words the statement writes as literals, changed alone, sends the row
    through the statement that binds it: the stored row keeps the caller's word."""
    path = tmp_path / "j.db"
    j = Journal(str(path))
    seen = _traced(j)
    rows = [
        _row("ok"),
        _row("trace", kind="trace"),
        _row("shell", task_type="shell"),
        _row("process", mode="process"),
        _row("cached", "SUCCEEDED", cache_hit=1, attempts=0),
        _row("failed", "FAILED", outputs=None),
    ]
    for r in rows:  # one commit each: the single-row path
        j.commit([(UPSERT_ACTION, r)])
    assert _stored(path) == {r.action_id: r for r in rows}
    inserts = [s for s in seen if s.startswith("INSERT INTO actions")]
    assert inserts == [
        UPSERT_ACTION_DONE,
        UPSERT_ACTION_SHORT,
        UPSERT_ACTION_SHORT,
        UPSERT_ACTION_SHORT,
        UPSERT_ACTION_DONE,
        UPSERT_ACTION_SHORT,
    ]
