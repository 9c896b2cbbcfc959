"""The durable record of runs, actions, attempts and cache entries: one SQLite file in WAL mode.

Writes from a run's controller are grouped (``RunJournal``): every statement queued in one event-loop
iteration is committed in one transaction, and a result is handed to the parent only after the
transaction that records it has committed (``write_durable``). WAL with synchronous=NORMAL survives a
killed process; set ``FLYTE_JOURNAL_SYNC=FULL`` to also survive power loss.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from flyte.errors import StorageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(
  name TEXT PRIMARY KEY, task_name TEXT, module_file TEXT, module_name TEXT, attr TEXT,
  inputs BLOB, status TEXT, root_action TEXT, created_at REAL, started_at REAL, ended_at REAL,
  error TEXT, outputs BLOB, store_prefix TEXT, host TEXT, user TEXT, pid INTEGER, settings TEXT
);
CREATE TABLE IF NOT EXISTS actions(
  run TEXT NOT NULL, action_id TEXT NOT NULL, parent_id TEXT, position INTEGER, kind TEXT,
  task_name TEXT, task_identity TEXT, task_type TEXT, status TEXT, attempts INTEGER,
  cache_hit INTEGER DEFAULT 0, started_at REAL, ended_at REAL, inputs BLOB, outputs BLOB,
  error TEXT, group_name TEXT, mode TEXT, meta TEXT,
  PRIMARY KEY(run, action_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS actions_by_parent ON actions(run, parent_id, position);
CREATE TABLE IF NOT EXISTS attempts(
  run TEXT NOT NULL, action_id TEXT NOT NULL, attempt INTEGER NOT NULL, status TEXT,
  started_at REAL, ended_at REAL, error TEXT,
  PRIMARY KEY(run, action_id, attempt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cache(
  key TEXT PRIMARY KEY, task_name TEXT, outputs BLOB, created_at REAL, run TEXT, action_id TEXT
) WITHOUT ROWID;
"""

UPSERT_ACTION = (
    "INSERT INTO actions(run, action_id, parent_id, position, kind, task_name, task_identity, task_type,"
    " status, attempts, cache_hit, started_at, ended_at, inputs, outputs, error, group_name, mode, meta)"
    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(run, action_id) DO UPDATE SET parent_id=excluded.parent_id, position=excluded.position,"
    " status=excluded.status, attempts=excluded.attempts, cache_hit=excluded.cache_hit,"
    " started_at=excluded.started_at, ended_at=excluded.ended_at, inputs=excluded.inputs,"
    " outputs=excluded.outputs, error=excluded.error, group_name=excluded.group_name, mode=excluded.mode,"
    " meta=COALESCE(excluded.meta, actions.meta), task_identity=excluded.task_identity"
)
INSERT_ATTEMPT = (
    "INSERT OR REPLACE INTO attempts(run, action_id, attempt, status, started_at, ended_at, error)"
    " VALUES(?,?,?,?,?,?,?)"
)
PUT_CACHE = (
    "INSERT OR REPLACE INTO cache(key, task_name, outputs, created_at, run, action_id) VALUES(?,?,?,?,?,?)"
)
SET_META = "UPDATE actions SET meta=? WHERE run=? AND action_id=?"


class Journal:
    """One SQLite connection per process (per path), shared by every run in the process."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        sync = os.environ.get("FLYTE_JOURNAL_SYNC", "NORMAL").upper()
        self.conn.execute(f"PRAGMA synchronous={'FULL' if sync == 'FULL' else 'NORMAL'}")
        self.conn.execute("PRAGMA busy_timeout=60000")
        self.conn.executescript(SCHEMA)
        self.lock = threading.RLock()

    def for_run(self) -> RunJournal:
        """A group-committing writer for one run (one event loop)."""
        return RunJournal(self)

    def commit(self, statements: list[tuple[str, Sequence[Any]]]) -> None:
        """Run statements in one transaction (same statements in a row go through ``executemany``)."""
        if not statements:
            return
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                i = 0
                n = len(statements)
                while i < n:
                    sql = statements[i][0]
                    j = i
                    while j < n and statements[j][0] == sql:
                        j += 1
                    self.conn.executemany(sql, [p for _, p in statements[i:j]])
                    i = j
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    # ---- direct access --------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.lock:
            self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            cur = self.conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return list(cur.fetchall())

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def cache_get(self, key: str, max_age: float | None = None) -> bytes | None:
        """A cache entry's outputs; ``None`` when missing or older than ``max_age`` seconds."""
        with self.lock:
            row = self.conn.execute("SELECT outputs, created_at FROM cache WHERE key=?", (key,)).fetchone()
        if row is None or (max_age and row[1] is not None and time.time() - row[1] > max_age):
            return None
        return bytes(row[0])

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.lock:
            self.conn.executemany(sql, rows)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class RunJournal:
    """One run's writes, group-committed on that run's event loop.

    Every statement queued in one event-loop iteration is committed in one transaction. Each run has
    its own batch, so runs on different loops (threads) of one process never resolve each other's
    waiters from the wrong thread; their commits share the process's connection under its lock.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.path = journal.path
        self._pending: list[tuple[str, Sequence[Any]]] = []
        # Action rows are keyed by (run, action_id): a later row for the same action replaces an
        # earlier one still waiting in the same group commit (a RUNNING row superseded by its result).
        self._pending_actions: dict[tuple[Any, Any], Sequence[Any]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False

    def write(self, sql: str, params: Sequence[Any]) -> None:
        """Queue a statement for the next group commit (no wait). Call on the run's loop."""
        if sql is UPSERT_ACTION:
            self._pending_actions[(params[0], params[1])] = params
        else:
            self._pending.append((sql, params))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)

    async def write_durable(self, sql: str, params: Sequence[Any], *more: tuple[str, Sequence[Any]]) -> None:
        """Queue statements and return once they are committed."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        for s, p in more:
            self._pending.append((s, p))
        self.write(sql, params)
        await fut

    def _flush_soon(self) -> None:
        self._scheduled = False
        pending, waiters = self._take()
        try:
            self.journal.commit(pending)
        except Exception as e:
            err = StorageError(f"could not write the journal at {self.path}: {e}")
            for w in waiters:
                if not w.done():
                    w.set_exception(err)
            return
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def _take(self) -> tuple[list[tuple[str, Sequence[Any]]], list[asyncio.Future[None]]]:
        actions = [(UPSERT_ACTION, p) for p in self._pending_actions.values()]
        pending = actions + self._pending if actions else self._pending
        waiters = self._waiters
        self._pending, self._waiters, self._pending_actions = [], [], {}
        return pending, waiters

    def flush(self) -> None:
        """Commit whatever is queued now (used when a run ends, or from sync code on the loop)."""
        pending, waiters = self._take()
        self.journal.commit(pending)
        for w in waiters:
            if not w.done():
                w.get_loop().call_soon_threadsafe(_resolve, w)

    # ---- reads and direct statements go to the shared connection ---------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.journal.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.journal.query(sql, params)

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return self.journal.query_one(sql, params)

    def cache_get(self, key: str, max_age: float | None = None) -> bytes | None:
        return self.journal.cache_get(key, max_age)


def _resolve(w: asyncio.Future[None]) -> None:
    if not w.done():
        w.set_result(None)


_journals: dict[str, Journal] = {}
_journals_lock = threading.Lock()


def open_journal(path: str) -> Journal:
    """The process's journal for a path (SQLite connections are costly to open per run)."""
    path = os.path.abspath(path)
    with _journals_lock:
        j = _journals.get(path)
        if j is None:
            j = Journal(path)
            _journals[path] = j
        return j
