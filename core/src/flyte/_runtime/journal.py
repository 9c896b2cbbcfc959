"""The durable record of runs, actions, attempts and cache entries: one SQLite file in WAL mode.

Writes from a run's controller are grouped (``RunJournal``): every statement queued in one event-loop
iteration is committed in one transaction, and a result is handed to the parent only after the
transaction that records it has committed (``write_durable``). WAL with synchronous=NORMAL survives a
killed process; set ``FLYTE_JOURNAL_SYNC=FULL`` to also survive power loss.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

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
CREATE TABLE IF NOT EXISTS segments(
  run TEXT NOT NULL, n INTEGER NOT NULL, started_at REAL, ended_at REAL, status TEXT, pid INTEGER,
  error TEXT,
  PRIMARY KEY(run, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS specs(
  identity TEXT PRIMARY KEY, task_name TEXT, spec TEXT
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
PUT_SPEC = "INSERT OR IGNORE INTO specs(identity, task_name, spec) VALUES(?,?,?)"
"""A task's spec (TaskSpec JSON), keyed by its code identity: what `flyte ui` shows with an action."""


# ---- typed rows: what callers hand to and get from the journal (never SQL, never column order) -----
# Write rows are NamedTuples: typed fields, yet each *is* the parameter tuple of its statement, so the
# hot path (two action rows per action) builds no dict and copies nothing.
class ActionRow(NamedTuple):
    """One ``actions`` row: a task call, a trace or a durable step of a run."""

    run: str
    action_id: str
    parent_id: str | None
    position: int | None
    kind: str
    task_name: str
    task_identity: str | None
    task_type: str | None
    status: str
    attempts: int
    cache_hit: int
    started_at: float | None
    ended_at: float | None
    inputs: bytes | None
    outputs: bytes | None
    error: str | None
    group_name: str | None
    mode: str | None
    meta: str | None


class AttemptRow(NamedTuple):
    """One ``attempts`` row: one try of an action (kept for every retry, with its error)."""

    run: str
    action_id: str
    attempt: int
    status: str
    started_at: float | None
    ended_at: float | None
    error: str | None


class CacheEntry(NamedTuple):
    """One ``cache`` row: a task's outputs under its cache key."""

    key: str
    task_name: str
    outputs: bytes | None
    created_at: float
    run: str
    action_id: str


RUN_COLUMNS = (
    "name, task_name, module_file, module_name, attr, inputs, status, root_action, created_at,"
    " started_at, ended_at, error, outputs, store_prefix, host, user, pid, settings"
)
GET_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE name=?"
CREATE_RUN = (
    "INSERT INTO runs(name, task_name, module_file, module_name, attr, inputs, status,"
    " root_action, created_at, started_at, store_prefix, host, user, pid, settings)"
    " VALUES(?,?,?,?,?,?,?,NULL,?,?,?,?,?,?,?)"
)
RESUME_RUN = "UPDATE runs SET status=?, ended_at=NULL, error=NULL, pid=?, settings=? WHERE name=?"
FINISH_RUN = "UPDATE runs SET status=?, ended_at=?, error=?, root_action=? WHERE name=?"
ABANDON_ACTIONS = "UPDATE actions SET status=?, ended_at=?, error=COALESCE(error, ?) WHERE run=? AND status=?"
ATTEMPT_COUNTS = "SELECT action_id, MAX(attempt) + 1 FROM attempts WHERE run=? GROUP BY action_id"


@dataclass(frozen=True, slots=True)
class RunRow:
    """One ``runs`` row: a run as recorded (its latest execution's status, pid and settings)."""

    name: str
    task_name: str
    module_file: str | None
    module_name: str | None
    attr: str
    inputs: bytes | None
    status: str
    root_action: str | None
    created_at: float | None
    started_at: float | None
    ended_at: float | None
    error: str | None
    outputs: bytes | None
    store_prefix: str | None
    host: str | None
    user: str | None
    pid: int | None
    settings: str | None

    def as_dict(self) -> dict[str, Any]:
        """The row keyed by column name (what ``flyte.remote`` and the CLI read)."""
        return {f: getattr(self, f) for f in self.__slots__}


SORTABLE_RUN_COLUMNS = frozenset({"created_at", "started_at", "ended_at", "name", "task_name", "status"})
ABORT_RUN = "UPDATE runs SET status=?, ended_at=?, error=? WHERE name=? AND status=?"
ABORT_SEGMENT = "UPDATE segments SET status=?, ended_at=? WHERE run=? AND ended_at IS NULL"
FIRST_ERROR = "SELECT error FROM actions WHERE run=? AND status=? ORDER BY ended_at LIMIT 1"
ACTION_COLUMNS = (
    "action_id, parent_id, position, kind, task_name, task_identity, task_type, status, attempts,"
    " cache_hit, started_at, ended_at, error, group_name, mode, meta"
)
LIST_ACTIONS = f"SELECT {ACTION_COLUMNS} FROM actions WHERE run=? ORDER BY started_at, position"
GET_ACTION = f"SELECT {ACTION_COLUMNS}, inputs, outputs FROM actions WHERE run=? AND action_id=?"
ACTION_ATTEMPTS = (
    "SELECT attempt, status, started_at, ended_at, error FROM attempts WHERE run=? AND action_id=?"
    " ORDER BY attempt"
)
RUN_ATTEMPTS = (
    "SELECT action_id, attempt, status, started_at, ended_at, error FROM attempts WHERE run=?"
    " ORDER BY started_at, action_id, attempt"
)
RECORDED_ACTIONS = (
    "SELECT action_id, parent_id, position, kind, task_name, task_identity, status, outputs, meta"
    " FROM actions WHERE run=?"
)

DEPLOYED_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployed(
  name TEXT NOT NULL, version TEXT NOT NULL, env TEXT, task_type TEXT, identity TEXT,
  source_version TEXT, bundle_digest TEXT, module_name TEXT, module_file TEXT, attr TEXT,
  source BLOB, spec TEXT, created_at REAL, project TEXT, domain TEXT,
  PRIMARY KEY(name, version)
) WITHOUT ROWID;
"""
"""Tasks recorded by ``flyte.deploy``: their spec and a copy of their module's source (the bundle)."""
DEPLOYED_COLUMNS = (
    "name",
    "version",
    "env",
    "task_type",
    "identity",
    "source_version",
    "bundle_digest",
    "module_name",
    "module_file",
    "attr",
    "source",
    "spec",
    "created_at",
    "project",
    "domain",
)
PUT_DEPLOYED = (
    f"INSERT OR REPLACE INTO deployed({','.join(DEPLOYED_COLUMNS)})"
    f" VALUES({','.join('?' * len(DEPLOYED_COLUMNS))})"
)
LIST_DEPLOYED = (
    "SELECT name, version, env, task_type, identity, source_version, bundle_digest, module_name,"
    " module_file, attr, spec, created_at, project, domain FROM deployed"
)

SUBTREE = (
    "WITH RECURSIVE sub(id) AS (SELECT ? UNION SELECT a.action_id FROM actions a JOIN sub"
    " ON a.parent_id = sub.id WHERE a.run = ?)"
    " SELECT action_id, parent_id, position, kind, task_name, task_identity, task_type, status, attempts,"
    " cache_hit, started_at, ended_at, inputs, outputs, error, group_name, mode, meta FROM actions"
    " WHERE run = ? AND action_id IN (SELECT id FROM sub)"
)

# ---- segments: each execution of a run (the first, then each recovery), never rewritten -----------
# ``CREATE TABLE IF NOT EXISTS`` above adds the table to a journal written before it existed; a run
# recorded then gets its first segment from its runs row when it is first recovered.
INTERRUPTED = "INTERRUPTED"
CLOSE_SEGMENT = "UPDATE segments SET ended_at=?, status=?, error=? WHERE run=? AND n=?"
LAST_WRITE_SQL = (
    "SELECT MAX(t) AS t FROM ("
    " SELECT MAX(started_at) AS t FROM actions WHERE run=?1 UNION ALL"
    " SELECT MAX(ended_at) FROM actions WHERE run=?1 UNION ALL"
    " SELECT MAX(ended_at) FROM attempts WHERE run=?1 UNION ALL"
    " SELECT MAX(ended_at) FROM segments WHERE run=?1 UNION ALL"
    " SELECT started_at FROM runs WHERE name=?1)"
)


def last_write(journal: Journal, run: str) -> float | None:
    """When this run last wrote to the journal (an action or attempt started or ended): the end of an
    execution whose process died without recording its end."""
    row = journal.query_one(LAST_WRITE_SQL, (run,))
    return None if row is None or row["t"] is None else float(row["t"])


def segments(journal: Journal, run: str) -> list[dict[str, Any]]:
    rows = journal.query(
        "SELECT n, started_at, ended_at, status, pid, error FROM segments WHERE run=? ORDER BY n", (run,)
    )
    return [dict(r) for r in rows]


def new_segment(
    journal: Journal, run: str, now: float, pid: int, first: bool
) -> tuple[int, list[tuple[str, Sequence[Any]]]]:
    """(number, statements) of a new execution segment of ``run``; for a recovery, the statements
    also close the previous segment when its process died (ended at the run's last journal write)."""
    ins = "INSERT INTO segments(run, n, started_at, ended_at, status, pid, error) VALUES(?,?,?,?,?,?,?)"
    if first:
        return 0, [(ins, (run, 0, now, None, "RUNNING", pid, None))]
    stmts: list[tuple[str, Sequence[Any]]] = []
    segs = segments(journal, run)
    if not segs:  # recorded before segments existed: the runs row holds the first execution
        r = journal.query_one(
            "SELECT started_at, ended_at, status, pid, error FROM runs WHERE name=?", (run,)
        )
        if r is not None:
            status = INTERRUPTED if r["status"] == "RUNNING" else r["status"]
            end = r["ended_at"] if r["ended_at"] is not None else last_write(journal, run)
            stmts.append((ins, (run, 0, r["started_at"], end, status, r["pid"], r["error"])))
            segs = [{"n": 0}]
    elif segs[-1]["ended_at"] is None:
        stmts.append((CLOSE_SEGMENT, (last_write(journal, run), INTERRUPTED, None, run, segs[-1]["n"])))
    n = segs[-1]["n"] + 1 if segs else 0
    stmts.append((ins, (run, n, now, None, "RUNNING", pid, None)))
    return n, stmts


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
        self._deployed_ready = False

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

    def subtree(self, run: str, action_id: str) -> list[ActionRow]:
        """An action and every action below it, as recorded in ``run``."""
        with self.lock:
            rows = self.conn.execute(SUBTREE, (action_id, run, run)).fetchall()
        return [ActionRow(run, *r) for r in rows]

    # ---- runs: created, resumed, finished --------------------------------------------------------
    def get_run(self, name: str) -> RunRow | None:
        with self.lock:
            row = self.conn.execute(GET_RUN, (name,)).fetchone()
        return None if row is None else RunRow(*row)

    def run_created(
        self,
        name: str,
        task_name: str,
        module_file: str | None,
        module_name: str | None,
        attr: str,
        inputs: bytes,
        status: str,
        now: float,
        store_prefix: str,
        host: str,
        user: str,
        pid: int,
        settings: str,
    ) -> int:
        """Record a new run and its first execution segment (number returned). Raises
        ``FileExistsError`` when a run of that name exists (another process may have just made it)."""
        segment, seg_stmts = new_segment(self, name, now, pid, first=True)
        row = (name, task_name, module_file, module_name, attr, inputs, status, now, now, store_prefix, host)
        try:
            self.commit([(CREATE_RUN, (*row, user, pid, settings)), *seg_stmts])
        except sqlite3.IntegrityError:
            raise FileExistsError(name) from None
        return segment

    def run_resumed(self, name: str, status: str, now: float, pid: int, settings: str) -> int:
        """A recovery of ``name`` starts: a new execution segment (number returned)."""
        segment, seg_stmts = new_segment(self, name, now, pid, first=False)
        self.commit([*seg_stmts, (RESUME_RUN, (status, pid, settings, name))])
        return segment

    def run_finished(
        self,
        name: str,
        segment: int,
        status: str,
        ended: float,
        error: str | None,
        root_action: str,
        left_running: tuple[str, str, str],
    ) -> None:
        """Close the run and its segment; actions still ``left_running[0]`` (RUNNING) become
        ``left_running[1]`` (ABORTED) with error ``left_running[2]``: nobody will finish them."""
        running, aborted, aborted_error = left_running
        self.commit(
            [
                (FINISH_RUN, (status, ended, error, root_action, name)),
                (CLOSE_SEGMENT, (ended, status, error, name, segment)),
                (ABANDON_ACTIONS, (aborted, ended, aborted_error, name, running)),
            ]
        )

    def attempt_counts(self, run: str) -> dict[str, int]:
        """Attempts recorded per action of ``run`` (a recovery numbers its retries after them)."""
        with self.lock:
            rows = self.conn.execute(ATTEMPT_COUNTS, (run,)).fetchall()
        return {aid: int(n) for aid, n in rows}

    # ---- reads for flyte.remote and the CLI (``reader.py``): rows keyed by column name ------------
    def _dicts(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.lock:
            cur = self.conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def list_runs(
        self,
        statuses: Sequence[str] | None = None,
        task_name: str | None = None,
        user: str | None = None,
        sort_by: tuple[str, str] = ("created_at", "desc"),
    ) -> list[RunRow]:
        """Runs matching every given filter (values are bound; the sort column is from a fixed set)."""
        col, order = sort_by
        if col not in SORTABLE_RUN_COLUMNS or order not in ("asc", "desc"):
            raise ValueError(
                f"sort_by={sort_by!r}: use (one of {sorted(SORTABLE_RUN_COLUMNS)}, 'asc' or 'desc')"
            )
        where: list[str] = []
        params: list[Any] = []
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params += list(statuses)
        if task_name is not None:
            where.append("task_name=?")
            params.append(task_name)
        if user is not None:
            where.append("user=?")
            params.append(user)
        sql = f"SELECT {RUN_COLUMNS} FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY {col} {order.upper()}"
        with self.lock:
            rows = self.conn.execute(sql, params).fetchall()
        return [RunRow(*r) for r in rows]

    def action_count(self, run: str, status: str | None = None, children_only: bool = False) -> int:
        """How many actions ``run`` recorded (with ``status``; below its root only)."""
        sql = "SELECT COUNT(*) FROM actions WHERE run=?"
        params: list[Any] = [run]
        if status is not None:
            sql += " AND status=?"
            params.append(status)
        if children_only:
            sql += " AND parent_id IS NOT NULL"
        with self.lock:
            return int(self.conn.execute(sql, params).fetchone()[0])

    def first_error(self, run: str, status: str) -> str | None:
        """The error of the first action of ``run`` that ended with ``status`` (FAILED)."""
        with self.lock:
            row = self.conn.execute(FIRST_ERROR, (run, status)).fetchone()
        return None if row is None else row[0]

    def run_aborted(self, run: str, aborted: str, running: str, error: str, action_error: str) -> None:
        """Record an interrupted run (and its unfinished actions and open segment) as aborted."""
        now = time.time()
        self.commit(
            [
                (ABORT_RUN, (aborted, now, error, run, running)),
                (ABANDON_ACTIONS, (aborted, now, action_error, run, running)),
                (ABORT_SEGMENT, (aborted, now, run)),
            ]
        )

    def list_actions(self, run: str) -> list[dict[str, Any]]:
        return self._dicts(LIST_ACTIONS, (run,))

    def get_action(self, run: str, action_id: str) -> dict[str, Any] | None:
        rows = self._dicts(GET_ACTION, (run, action_id))
        return rows[0] if rows else None

    def list_attempts(self, run: str, action_id: str | None = None) -> list[dict[str, Any]]:
        """Attempts of one action (by number), or of every action of ``run`` (by start)."""
        if action_id is None:
            return self._dicts(RUN_ATTEMPTS, (run,))
        return self._dicts(ACTION_ATTEMPTS, (run, action_id))

    def recorded_actions(self, run: str) -> list[dict[str, Any]]:
        """What a recovery needs of each action of ``run`` (ids, position, identity, result, meta)."""
        return self._dicts(RECORDED_ACTIONS, (run,))

    def cache_clear(self, task_name: str | None = None) -> int:
        """Delete the cache entries (of one task); returns how many there were."""
        with self.lock:
            if task_name is None:
                n = self.conn.execute("SELECT COUNT(*) FROM cache").fetchone()[0]
                self.conn.execute("DELETE FROM cache")
            else:
                n = self.conn.execute(
                    "SELECT COUNT(*) FROM cache WHERE task_name=?", (task_name,)
                ).fetchone()[0]
                self.conn.execute("DELETE FROM cache WHERE task_name=?", (task_name,))
        return int(n)

    # ---- deployed tasks (``flyte.deploy``): created on first use ---------------------------------
    def _deployed(self) -> None:
        if not self._deployed_ready:
            with self.lock:
                self.conn.executescript(DEPLOYED_SCHEMA)
            self._deployed_ready = True

    def put_deployed(self, rows: list[dict[str, Any]]) -> None:
        """Record deployed tasks (a version already recorded for a name is replaced: a redeploy)."""
        self._deployed()
        self.commit([(PUT_DEPLOYED, [r.get(c) for c in DEPLOYED_COLUMNS]) for r in rows])

    def get_deployed(self, name: str, version: str | None = None) -> dict[str, Any] | None:
        """A deployed task by name and version; the latest deployed version when ``version`` is None."""
        self._deployed()
        if version is None:
            rows = self._dicts(
                "SELECT * FROM deployed WHERE name=? ORDER BY created_at DESC LIMIT 1", (name,)
            )
        else:
            rows = self._dicts("SELECT * FROM deployed WHERE name=? AND version=?", (name, version))
        return rows[0] if rows else None

    def list_deployed(self, name: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
        self._deployed()
        where, params = [], []
        if name is not None:
            where.append("name=?")
            params.append(name)
        if env is not None:
            where.append("env=?")
            params.append(env)
        sql = LIST_DEPLOYED + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC"
        return self._dicts(sql, params)

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

    # ---- the semantic API: what the controller (and a remote body, by request) records ------------
    def action_started(self, row: ActionRow) -> None:
        """An action (or a retry of it) is running: queued, not waited for."""
        self._pending_actions[(row[0], row[1])] = row
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)

    action_ended = action_started
    """An action ended and nobody waits on its record (an abort, a trace written from sync code)."""

    async def action_finished(self, row: ActionRow, cache: CacheEntry | None = None) -> None:
        """An action's result (and its cache entry): returns once committed, so the parent sees a
        value only after the record of it is durable."""
        if cache is None:
            await self.write_durable(UPSERT_ACTION, row)
        else:
            await self.write_durable(UPSERT_ACTION, row, (PUT_CACHE, cache))

    def attempt_finished(self, row: AttemptRow) -> None:
        """One failed or aborted try of an action (its error stays in the record)."""
        self.write(INSERT_ATTEMPT, row)

    async def connector_created(self, run: str, action_id: str, meta: str) -> None:
        """A connector's remote job exists: its handle, durably, so a recovery re-attaches to it."""
        await self.write_durable(SET_META, (meta, run, action_id))

    def record_spec(self, identity: str, task_name: str, spec: str) -> None:
        """A task's spec (JSON), once per code identity."""
        self.write(PUT_SPEC, (identity, task_name, spec))

    def cache_get(self, key: str, max_age: float | None = None) -> bytes | None:
        return self.journal.cache_get(key, max_age)

    def subtree(self, run: str, action_id: str) -> list[ActionRow]:
        return self.journal.subtree(run, action_id)


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


# ---- run records: a run's rows exported to its object-store prefix, and imported elsewhere ---------
# ``<run prefix>/_record/run.json`` (the manifest: the runs row and the list of row files) and JSON
# lines files of action and attempt rows: one full ``snapshot-*`` plus the ``segment-*`` files written
# since (rows changed since the previous export). Later lines win. Each object is written whole and
# the manifest last, so a reader never sees a half-written record.
RECORD_DIR = "_record"
RECORD_MANIFEST = "run.json"
RECORD_FORMAT = "flyte-run-record/1"
MAX_SEGMENTS = 200
"""Past this many segments the next export is a full snapshot again (it replaces them)."""

_TOUCHED = {UPSERT_ACTION: 1, INSERT_ATTEMPT: 1, SET_META: 2}
"""Statement -> index of the action ID in its parameters."""


class RecordingRunJournal(RunJournal):
    """A run's journal writer that also notes the actions each commit touched (for record export)."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.touched: set[str] = set()

    def _take(self) -> tuple[list[tuple[str, Sequence[Any]]], list[asyncio.Future[None]]]:
        pending, waiters = super()._take()
        touched = self.touched
        for sql, params in pending:
            i = _TOUCHED.get(sql)
            if i is not None:
                touched.add(params[i])
        return pending, waiters

    def take_touched(self) -> set[str]:
        ids, self.touched = self.touched, set()
        return ids


def _columns(journal: Journal, table: str) -> list[str]:
    return [r["name"] for r in journal.query(f"PRAGMA table_info({table})")]


def _to_json(row: Any) -> dict[str, Any]:
    import base64

    out: dict[str, Any] = {}
    for k in row.keys():
        v = row[k]
        out[k] = {"$b64": base64.b64encode(bytes(v)).decode()} if isinstance(v, (bytes, memoryview)) else v
    return out


def _json_rows(
    journal: Journal, table: str, sql: str, params: Sequence[Any], columns: dict[str, list[str]]
) -> list[list[Any]]:
    """Rows as ``[table, value, ...]`` (BLOBs base64'd; ``columns[table]`` names the values)."""
    from base64 import b64encode

    with journal.lock:
        cur = journal.conn.execute(sql, params)
        columns[table] = [d[0] for d in cur.description]
        rows = cur.fetchall()
    out = []
    for row in rows:
        line: list[Any] = [table, *row]
        for i, v in enumerate(line):
            if type(v) is bytes:
                line[i] = {"$b64": b64encode(v).decode()}
        out.append(line)
    return out


def _from_json(d: dict[str, Any], columns: Sequence[str], what: str) -> list[Any]:
    """Values for ``columns`` (the local schema's: a record's keys are never used as SQL)."""
    import base64

    values = []
    for c in columns:
        v = d.get(c)
        if isinstance(v, dict) and set(v) == {"$b64"}:
            v = base64.b64decode(v["$b64"])
        elif v is not None and not isinstance(v, (str, int, float)):
            raise ValueError(f"bad run record: {what} column {c!r} holds a {type(v).__name__}")
        values.append(v)
    return values


def record_rows(
    journal: Journal, run_name: str, action_ids: Iterable[str] | None = None
) -> tuple[dict[str, Any] | None, dict[str, list[str]], list[list[Any]]]:
    """The runs row (a JSON object), then the column names and rows (``[table, values...]``) of the
    run's actions and attempts: all of them, or those of ``action_ids``."""
    run = journal.query_one("SELECT * FROM runs WHERE name=?", (run_name,))
    columns: dict[str, list[str]] = {}
    if run is None:
        return None, columns, []
    lines: list[list[Any]] = []
    if action_ids is None:
        chunks: list[list[str] | None] = [None]
    else:
        ids = sorted(action_ids)
        chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]
    for chunk in chunks:
        where, params = "run=?", [run_name]
        if chunk is not None:
            where += f" AND action_id IN ({','.join('?' * len(chunk))})"
            params += chunk
        lines += _json_rows(journal, "actions", f"SELECT * FROM actions WHERE {where}", params, columns)
        lines += _json_rows(journal, "attempts", f"SELECT * FROM attempts WHERE {where}", params, columns)
    return _to_json(run), columns, lines


class RecordWriter:
    """Exports one run's record to ``<prefix>/_record/`` in its object store (thread-safe)."""

    def __init__(self, journal: Journal, run_name: str, prefix: str, store: Any) -> None:
        import uuid

        self.journal = journal
        self.run_name = run_name
        self.base = "/".join([prefix.rstrip("/"), RECORD_DIR])
        self.store = store
        self.epoch = uuid.uuid4().hex[:8]
        self.n = 0
        self.snapshot: str | None = None
        self.segments: list[str] = []
        self.lock = threading.Lock()
        self.writes = 0

    def write(
        self, action_ids: Iterable[str] | None = None, final: bool = False, quick: bool = False
    ) -> bool:
        """Write the rows changed since the last export (everything when ``action_ids`` is None, at
        the first export and at the end). ``quick``: no retries, and skip when an export is running."""
        if not self.lock.acquire(blocking=not quick):
            return False
        try:
            store = getattr(self.store, "inner", self.store) if quick else self.store
            full = final or action_ids is None or self.snapshot is None or len(self.segments) >= MAX_SEGMENTS
            run, columns, lines = record_rows(self.journal, self.run_name, None if full else action_ids)
            if run is None:
                return False
            previous = self._previous_objects(store) if self.snapshot is None else []
            self.n += 1
            name = f"{'snapshot' if full else 'segment'}-{self.epoch}-{self.n:06d}.jsonl"
            encode = json.JSONEncoder(separators=(",", ":")).encode
            body = "\n".join([encode({"columns": columns}), *map(encode, lines)]) + "\n"
            store.put_bytes(f"{self.base}/{name}", body.encode())
            snapshot, segments = (name, []) if full else (self.snapshot, [*self.segments, name])
            manifest = {
                "format": RECORD_FORMAT,
                "run": run,
                "snapshot": snapshot,
                "segments": segments,
                "exported_at": time.time(),
                "final": final,
            }
            store.put_bytes(f"{self.base}/{RECORD_MANIFEST}", json.dumps(manifest).encode())
            replaced = [self.snapshot, *self.segments] if full else []
            self.snapshot, self.segments = snapshot, segments
            self.writes += 1
        finally:
            self.lock.release()
        self._delete([n for n in [*replaced, *previous] if n and n != snapshot], store)
        return True

    def _previous_objects(self, store: Any) -> list[str]:
        """Row files of an earlier execution of this run (replaced by this one's first snapshot)."""
        try:
            old = json.loads(store.get_bytes(f"{self.base}/{RECORD_MANIFEST}"))
        except Exception:
            return []
        return [n for n in [old.get("snapshot"), *(old.get("segments") or [])] if isinstance(n, str)]

    def _delete(self, names: list[str], store: Any) -> None:
        delete = getattr(store, "delete", None)
        if delete is None:
            return
        for n in names:
            try:
                delete(f"{self.base}/{n}")
            except Exception:
                pass  # garbage, not a correctness problem: the manifest no longer lists it


def read_record(store: Any, prefix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(runs row, action/attempt rows) of the record under ``prefix``; later rows win."""
    base = "/".join([prefix.rstrip("/"), RECORD_DIR])
    last: Exception | None = None
    for _ in range(3):  # a live run may replace its row files between our reads: read again
        try:
            manifest = json.loads(store.get_bytes(f"{base}/{RECORD_MANIFEST}"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no run record at {base}/{RECORD_MANIFEST}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != RECORD_FORMAT:
            raise ValueError(f"{base}/{RECORD_MANIFEST} is not a flyte run record ({RECORD_FORMAT})")
        rows: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
        try:
            for name in [manifest.get("snapshot"), *(manifest.get("segments") or [])]:
                if not name:
                    continue
                if not isinstance(name, str) or "/" in name or name.startswith("."):
                    raise ValueError(f"bad run record: row file name {name!r}")
                lines = store.get_bytes(f"{base}/{name}").decode().splitlines()
                header = json.loads(lines[0]) if lines else {}
                columns = header.get("columns") if isinstance(header, dict) else None
                if not isinstance(columns, dict):
                    raise ValueError(f"bad run record: {name} has no column header")
                for line in lines[1:]:
                    values = json.loads(line)
                    table = values[0] if isinstance(values, list) and values else None
                    if table not in columns:
                        raise ValueError(f"bad run record: a row of unknown table {table!r} in {name}")
                    d = dict(zip(columns[table], values[1:]))
                    d["table"] = table
                    rows[(table, d.get("action_id"), d.get("attempt"))] = d
        except FileNotFoundError as e:
            last = e
            continue
        return manifest["run"], list(rows.values())
    raise FileNotFoundError(f"the run record at {base} kept changing while it was read: {last}")


def import_record(
    journal: Journal, run: dict[str, Any], rows: list[dict[str, Any]], replace: bool = False
) -> tuple[int, int]:
    """Write a record's rows into this journal; returns (actions, attempts) imported."""
    name = run.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("bad run record: no run name")
    if journal.query_one("SELECT name FROM runs WHERE name=?", (name,)) is not None and not replace:
        raise FileExistsError(f"a run named {name!r} is already in this journal")
    run_cols = _columns(journal, "runs")
    action_cols = _columns(journal, "actions")
    attempt_cols = _columns(journal, "attempts")
    actions = [_from_json(r, action_cols, "actions") for r in rows if r.get("table") == "actions"]
    attempts = [_from_json(r, attempt_cols, "attempts") for r in rows if r.get("table") == "attempts"]
    for values, cols in [(v, action_cols) for v in actions] + [(v, attempt_cols) for v in attempts]:
        if values[cols.index("run")] != name:
            raise ValueError(f"bad run record: a row of run {values[cols.index('run')]!r} in run {name!r}")

    def insert(table: str, cols: list[str]) -> str:
        return f"INSERT OR REPLACE INTO {table}({','.join(cols)}) VALUES({','.join('?' * len(cols))})"

    statements: list[tuple[str, Sequence[Any]]] = [
        ("DELETE FROM actions WHERE run=?", (name,)),
        ("DELETE FROM attempts WHERE run=?", (name,)),
        ("DELETE FROM segments WHERE run=?", (name,)),
        (insert("runs", run_cols), _from_json(run, run_cols, "runs")),
    ]
    statements += [(insert("actions", action_cols), v) for v in actions]
    statements += [(insert("attempts", attempt_cols), v) for v in attempts]
    journal.commit(statements)
    return len(actions), len(attempts)
