"""Issue 25: a journal of an older schema version is upgraded in place at open, once, data intact;
one of a newer version is refused without being written. Both backends (SQLite, a real PostgreSQL).

The old journal is written by its own DDL of the time (``journal_v1_fixture``): on PostgreSQL its
``runs`` table has no ``rowid`` column, so the viewer's run pages fail on it until it is upgraded."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import flyte.errors
import pytest
from conftest import spawn
from flyte._runtime.journal import Journal, JournalView
from flyte._runtime.journal_migrations import MIGRATIONS, SCHEMA_VERSION
from journal_v1_fixture import ACTIONS, EVENTS, RUNS, write_v1


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "journal.db")
    return str(request.getfixturevalue("postgres_journal"))


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(sql.replace("user", '"user"'))]  # type: ignore[call-overload]
    conn = sqlite3.connect(url)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def _page(url: str) -> list[str]:
    """Run names of the viewer's first page (newest first, by rowid)."""
    view = JournalView.open(url)
    try:
        rows, total, _, _ = view.runs_page(None, None, None, None, 10)
    finally:
        view.conn.close()
    assert total == len(rows)
    return [r["name"] for r in rows]


def test_the_migrations_are_ordered() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION))


def test_a_version_1_journal_is_upgraded_in_place(journal_url: str) -> None:
    write_v1(journal_url)
    if journal_url.startswith("postgresql://"):  # the fixture is the old layout: no rowid there
        cols = "SELECT column_name FROM information_schema.columns WHERE table_name='runs'"
        assert "rowid" not in {r[0] for r in _rows(journal_url, cols)}
        with pytest.raises(flyte.errors.StorageError, match=r"schema version 1, older .* does not upgrade"):
            _page(journal_url)  # the read-only viewer says so, rather than failing on a missing column

    j = Journal(journal_url)
    try:
        assert _rows(journal_url, "SELECT value FROM journal_info WHERE name='schema_version'") == [
            (str(SCHEMA_VERSION),)
        ]
        noted = _rows(journal_url, "SELECT version, host, pid FROM journal_migrations ORDER BY version")
        assert [n[0] for n in noted] == list(range(2, SCHEMA_VERSION + 1))
        # the data is intact
        assert sorted(
            _rows(journal_url, "SELECT name, task_name, status, created_at, host, user, pid FROM runs")
        ) == sorted(RUNS)
        got = _rows(
            journal_url, "SELECT run, action_id, parent_id, position, kind, task_name, status FROM actions"
        )
        assert sorted(got, key=repr) == sorted(ACTIONS, key=repr)
        events = [(e["key"], e["at"], e["event"], e["run"]) for e in j.lease_events(run="v1-run-0")]
        assert events == EVENTS  # in insertion order (ORDER BY at, rowid)
        # the viewer pages runs by insertion order, and a run recorded now comes first
        assert _page(journal_url) == [r[0] for r in reversed(RUNS)]
        j.run_created("after", "t", None, None, "main", b"", "RUNNING", 2000.0, "p", "h", "u", 1, "{}")
        assert _page(journal_url)[:2] == ["after", "v1-run-4"]
    finally:
        j.close()
    Journal(journal_url).close()  # a second open finds nothing to do
    assert len(_rows(journal_url, "SELECT version FROM journal_migrations")) == SCHEMA_VERSION - 1


def test_a_new_journal_starts_at_the_current_version(journal_url: str) -> None:
    Journal(journal_url).close()
    assert _rows(journal_url, "SELECT value FROM journal_info WHERE name='schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert _rows(journal_url, "SELECT version FROM journal_migrations") == []


def test_a_journal_newer_than_known_is_refused_unwritten(journal_url: str) -> None:
    write_v1(journal_url)
    newer = SCHEMA_VERSION + 1
    if journal_url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(journal_url, autocommit=True) as conn:
            conn.execute("UPDATE journal_info SET value=%s", (str(newer),))
    else:
        with sqlite3.connect(journal_url) as conn:
            conn.execute("UPDATE journal_info SET value=?", (str(newer),))
        conn.close()
    with pytest.raises(flyte.errors.StorageError, match=rf"schema version {newer}, newer than this flyte"):
        Journal(journal_url)
    tables = (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        if journal_url.startswith("postgresql://")
        else "SELECT name FROM sqlite_master WHERE type='table'"
    )
    assert sorted(r[0] for r in _rows(journal_url, tables)) == [
        "actions",
        "cache_lease_events",
        "journal_info",
        "runs",
    ]  # nothing created, nothing migrated


def test_two_processes_opening_an_old_journal_migrate_it_once(journal_url: str, tmp_path: Path) -> None:
    write_v1(journal_url)
    go = tmp_path / "go"
    code = (
        "import os, time, sys\n"
        "from flyte._runtime.journal import Journal\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
        f"Journal({journal_url!r}).close()\n"
        "print('opened', os.getpid())\n"
    )
    procs = [spawn(f"exec({code!r})") for _ in range(2)]
    time.sleep(1.0)  # both waiting at the start line
    go.write_text("go")
    pids = set()
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        pids.add(int(out.split()[-1]))
    noted = _rows(journal_url, "SELECT version, pid FROM journal_migrations ORDER BY version")
    assert [n[0] for n in noted] == list(range(2, SCHEMA_VERSION + 1))
    assert len({n[1] for n in noted}) == 1 and noted[0][1] in pids  # one process did every step
    assert _page(journal_url) == [r[0] for r in reversed(RUNS)]


def _full_rows(path: str) -> list[tuple[Any, ...]]:
    return sorted(_rows(path, "SELECT * FROM actions"), key=repr)


def test_a_version_2_sqlite_journal_gets_rowid_actions_with_every_value(tmp_path: Path) -> None:
    """Version 3 (issue 20): SQLite's actions table gets a rowid (cheaper appends); the rows, their
    columns (order, types, defaults) and the parent index are those of a journal made new, and the
    upsert still finds an existing action by its key."""
    from flyte._runtime.journal import UPSERT_ACTION, ActionRow

    path = str(tmp_path / "journal.db")
    write_v1(path)  # on SQLite, the version-2 layout: mark it so
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE journal_info SET value='2' WHERE name='schema_version'")
        conn.execute(  # every column set, to compare them all after the copy
            "INSERT INTO actions VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ("r9", "b1", "a1", 4, "trace", "t", "id", "python", "FAILED", 3, 1, 1.5, 2.5, b"\x00i",
             b"\xffo", "err", "g", "inline", '{"m": 1}'),
        )  # fmt: skip
    conn.close()
    before = _full_rows(path)
    assert "WITHOUT ROWID" in _rows(path, "SELECT sql FROM sqlite_master WHERE name='actions'")[0][0]

    j = Journal(path)
    try:
        assert _full_rows(path) == before
        assert _rows(path, "SELECT version FROM journal_migrations") == [(3,)]
        sql = _rows(path, "SELECT sql FROM sqlite_master WHERE name='actions'")[0][0]
        assert "WITHOUT ROWID" not in sql
        fresh = str(tmp_path / "fresh.db")
        Journal(fresh).close()
        assert _rows(path, "PRAGMA table_info(actions)") == _rows(fresh, "PRAGMA table_info(actions)")
        assert _rows(path, "PRAGMA index_info(actions_by_parent)") == _rows(
            fresh, "PRAGMA index_info(actions_by_parent)"
        )
        row = ActionRow(*next(r for r in before if r[0] == "r9"))._replace(status="SUCCEEDED", error=None)
        j.commit([(UPSERT_ACTION, row), (UPSERT_ACTION, row._replace(action_id="b2"))])
        got = _rows(path, "SELECT action_id, status, error, meta FROM actions WHERE run='r9' ORDER BY 1")
        assert got == [("b1", "SUCCEEDED", None, '{"m": 1}'), ("b2", "SUCCEEDED", None, '{"m": 1}')]
    finally:
        j.close()


def test_the_viewer_reads_a_version_2_postgresql_journal(request: pytest.FixtureRequest) -> None:
    """2 -> 3 changes nothing on PostgreSQL, so the read-only viewer need not wait for an upgrade
    there (a version-1 journal is still refused: its runs table lacks the rowid the pages use)."""
    url = str(request.getfixturevalue("postgres_journal"))
    write_v1(url)
    Journal(url).close()  # upgraded to the current layout
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE journal_info SET value='2' WHERE name='schema_version'")
    assert _page(url) == [r[0] for r in reversed(RUNS)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE journal_info SET value='1' WHERE name='schema_version'")
    with pytest.raises(flyte.errors.StorageError, match=r"schema version 1, older .* does not upgrade"):
        _page(url)
