"""The durable record of runs, actions, attempts and cache entries: one SQLite file in WAL mode.

Writes from a run's controller are grouped (``RunJournal``): every statement queued in one event-loop
iteration is committed in one transaction, and a result is handed to the parent only after the
transaction that records it has committed (``RunJournal.action_finished``), or, for a sequential
step, once its row is in the run's redo log (``redo.py``; applied to SQLite later). WAL with
synchronous=NORMAL survives a killed process; set ``FLYTE_DURABILITY=fsync`` to also survive power
loss.

This module (with ``records.py`` for run records) is the only place that knows the tables: everything
else calls its typed methods (``action_started``, ``get_run``, ``list_actions``...) with typed rows
(``ActionRow``, ``RunRow``...). ``core/tests/test_journal_layering.py`` enforces that.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import itertools
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from flyte._runtime import redo
from flyte._runtime.journal_migrations import (
    INIT_VERSION,
    MIGRATIONS,
    MIGRATIONS_SCHEMA,
    SCHEMA_VERSION,
    read_version,
    refuse_newer,
    upgrade,
)
from flyte.errors import RunOwnershipLostError, StorageError

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
);
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
CREATE TABLE IF NOT EXISTS journal_info(name TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
"""
# The layout version and the steps that upgrade an older journal: journal_migrations.py.
# ``actions`` has a rowid (since version 3): a new row is appended to the table and only its key
# goes into the (run, action_id) index at a random place (action IDs are digests); WITHOUT ROWID
# put the whole row there (issue 20, measured in docs/performance.md).

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
# The same upsert for a row whose error, group_name and meta are None (most rows: a finished or
# running action outside a group, no connector handle), with those three as NULL literals and the
# row passed as a plain 16-tuple (``_short``). Issue 20: Python's sqlite3 binds None (and any
# non-str/int/float value) through its adapter lookup, ~0.2 µs each; a NamedTuple is read as a
# generic sequence, a plain tuple directly.
UPSERT_ACTION_SHORT = UPSERT_ACTION.replace(
    "VALUES(" + ",".join("?" * 19) + ")", "VALUES(" + ",".join("?" * 15) + ",NULL,NULL,?,NULL)"
)
# The short upsert for the commonest row of all, an action of a Python task that succeeded (every
# child of a fan-out, every step of a chain, every cache hit, run inline): its kind, task type,
# status and mode are this statement's own literals (fixed words of ours, never a caller's value),
# the row a 12-tuple.
# Issue 20, eighth round: each text value bound costs Python's sqlite3 a type dispatch and SQLite a
# mutex and a copy: these four are ~3.5k of the ~36k CPU instructions a row costs (callgrind).
_DONE = {4: "'task'", 7: "'python'", 8: "'SUCCEEDED'", 15: "NULL", 16: "NULL", 17: "'inline'", 18: "NULL"}
UPSERT_ACTION_DONE = UPSERT_ACTION.replace(
    "VALUES(" + ",".join("?" * 19) + ")",
    "VALUES(" + ",".join(_DONE.get(i, "?") for i in range(19)) + ")",
)
DONE_LEN = 12
"""A queued action row of this many values is ``UPSERT_ACTION_DONE``'s parameters (``_full`` gives
the whole row): (run, action_id, parent_id, position, task_name, task_identity, attempts, cache_hit,
started_at, ended_at, inputs, outputs), inputs and outputs below ``_SMALL_BLOB`` as ``bytearray``.
``Controller._submit_plain`` queues its succeeded child's row so (issue 20, tenth round): the
commit binds it as it is, without reading 19 columns back to test and reshape them (``_upsert_actions``)."""
_ROW_KEY = operator.itemgetter(0, 1)
_SMALL_BLOB = 65536
"""Inputs and outputs shorter than this are bound as a ``bytearray`` copy: Python's sqlite3 binds
``bytes`` (and ``None``) through its adapter lookup (an exception raised and cleared, ~0.3 µs)."""
INSERT_ATTEMPT = (
    "INSERT OR REPLACE INTO attempts(run, action_id, attempt, status, started_at, ended_at, error)"
    " VALUES(?,?,?,?,?,?,?)"
)
CACHE_GET = "SELECT outputs, created_at FROM cache WHERE key=?"
READ_SNAPSHOT = 0.005
"""Seconds a run's cache lookups may share one read transaction (``Journal.cache_lookup``)."""
MEMO_ENTRIES = 8192
MEMO_VALUE = 1024
"""The entries a process found (at most this many, values up to MEMO_VALUE bytes) are answered
again from memory while the cache table is unchanged (``Journal.cache_lookup``)."""
_MEMO_TRIGGERS = [
    f"CREATE TEMP TRIGGER IF NOT EXISTS flyte_cache_{op.lower()} AFTER {op} ON main.cache"
    " BEGIN SELECT flyte_cache_changed(); END"
    for op in ("INSERT", "UPDATE", "DELETE")
]
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
# an action left running, or waiting for a place (QUEUED, issue 18), when its run ends is abandoned
ABANDON_ACTIONS = (
    "UPDATE actions SET status=?, ended_at=?, error=COALESCE(error, ?)"
    " WHERE run=? AND status IN (?, 'QUEUED')"
)
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


@dataclass(frozen=True, slots=True)
class RecordedRow:
    """What a recovery reads of one recorded action: where it was called, by which code, its result."""

    action_id: str
    parent_id: str | None
    position: int  # every writer records one
    kind: str
    task_name: str
    task_identity: str | None
    status: str
    outputs: bytes | None
    meta: str | None


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
    "WITH RECURSIVE sub(id) AS (SELECT CAST(? AS TEXT) UNION SELECT a.action_id FROM actions a JOIN sub"
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
    " SELECT started_at FROM runs WHERE name=?1) AS w"
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


DURABILITY_ENV = "FLYTE_DURABILITY"


def journal_sync() -> str:
    """SQLite's ``synchronous`` for the journal (issue 20).

    ``FLYTE_DURABILITY=process`` (default): WAL with NORMAL, durable against a killed process, no
    fsync per commit. ``FLYTE_DURABILITY=fsync``: FULL, each commit also survives power loss (an
    fsync per commit). ``FLYTE_JOURNAL_SYNC=FULL`` is the older spelling of ``fsync``."""
    value = os.environ.get(DURABILITY_ENV, "").strip().lower()
    if not value:
        return "FULL" if os.environ.get("FLYTE_JOURNAL_SYNC", "").upper() == "FULL" else "NORMAL"
    if value not in ("process", "fsync"):
        from flyte.errors import InvalidParameterError

        raise InvalidParameterError(
            "journal",
            DURABILITY_ENV,
            value,
            "Use 'process' (the default: survives a killed process) "
            "or 'fsync' (also survives power loss, slower).",
        )
    return "FULL" if value == "fsync" else "NORMAL"


def _shape(p: Sequence[Any]) -> int:
    """Which statement writes action row ``p``: 0 ``UPSERT_ACTION_DONE``, 1 ``UPSERT_ACTION_SHORT``,
    2 ``UPSERT_ACTION``."""
    if p[15] is not None or p[16] is not None or p[18] is not None:
        return 2
    return 0 if p[8] == "SUCCEEDED" and p[4] == "task" and p[7] == "python" and p[17] == "inline" else 1


def _blob(v: Any) -> Any:
    return bytearray(v) if v.__class__ is bytes and len(v) < _SMALL_BLOB else v


def _short(p: Sequence[Any]) -> tuple[Any, ...]:
    return (*p[:13], _blob(p[13]), _blob(p[14]), p[17])


_FIRST = operator.itemgetter(0)  # a statement's SQL, in a (sql, params) pair
_PARAMS = operator.itemgetter(1)  # and its parameters


def _done(p: Sequence[Any]) -> tuple[Any, ...]:
    return (*p[:4], p[5], p[6], *p[9:13], _blob(p[13]), _blob(p[14]))


def _bytes(v: Any) -> Any:
    return bytes(v) if v.__class__ is bytearray else v


def _full(d: Sequence[Any]) -> tuple[Any, ...]:
    """The whole ``UPSERT_ACTION`` row (ActionRow's column order) of a done row (see ``DONE_LEN``)."""
    return (
        *d[:4], "task", d[4], d[5], "python", "SUCCEEDED", *d[6:10], _bytes(d[10]), _bytes(d[11]),
        None, None, "inline", None,
    )  # fmt: skip


def _whole(statements: list[tuple[str, Sequence[Any]]]) -> list[tuple[str, Sequence[Any]]]:
    """``statements`` with each ``UPSERT_ACTION_DONE`` as ``UPSERT_ACTION`` and its whole row (what a
    PostgreSQL journal binds)."""
    if not any(sql is UPSERT_ACTION_DONE for sql, _ in statements):
        return statements
    return [(UPSERT_ACTION, _full(p)) if sql is UPSERT_ACTION_DONE else (sql, p) for sql, p in statements]


class Journal:
    """One connection per process (per path or URL), shared by every run in the process.

    ``path`` is a SQLite file (the default) or a ``postgresql://`` URL: there the connection is a
    ``journal_backend.PgConnection``, which runs these same statements in PostgreSQL's dialect."""

    conn: Any  # sqlite3.Connection, or journal_backend.PgConnection for a postgresql:// journal

    def __init__(self, path: str) -> None:
        self.path = path
        self.integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
        self.redo = False  # sequential steps may be made durable in a run's redo log (redo.py)
        self._readable: str | None = None  # SQLite: the path a lookup connection opens
        self._reader: sqlite3.Connection | None = None
        self._read_cur: sqlite3.Cursor | None = None  # the lookups' cursor on _reader
        # Entries found by cache_lookup, valid while ``_memo_stamp`` holds: (the writer connection's
        # data_version, which moves when another connection commits; this connection's own changes
        # of the cache table, counted by temporary triggers). None: not used (PostgreSQL, no triggers).
        self._memo: dict[str, tuple[bytes, float | None]] | None = None
        self._memo_stamp = (-1, -1)
        self._data_version = -1
        self._cache_writes = 0
        self._read_since = 0.0
        self._begin = "BEGIN IMMEDIATE"  # SQLite: one writer at a time, taken at BEGIN
        self.pg = path.startswith(("postgresql://", "postgres://"))
        if path.startswith(("postgresql://", "postgres://")):
            from flyte._runtime.journal_backend import PgConnection, redact

            self.display = redact(path)
            self.conn = PgConnection(path)
            self.integrity_errors = self.conn.integrity_errors
            self._begin = "BEGIN"  # a group commit needs no lock there: rows, not the file, conflict
        else:
            self.display = path
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
            _use_wal(self.conn)
            sync = journal_sync()
            self.conn.execute(f"PRAGMA synchronous={sync}")
            self.conn.execute("PRAGMA busy_timeout=60000")
            self.redo = sync == "NORMAL" and redo.available()
            self._readable = path
        self.lock = threading.RLock()
        self._deployed_ready = False
        try:
            self._open_schema()
        except BaseException:
            self.conn.close()
            raise

    def _open_schema(self) -> None:
        """Create a new journal's tables at this layout's version; upgrade an older journal (see
        ``journal_migrations``); refuse one written by a newer flyte, before writing anything."""
        existed = self._has_table(self.conn, "runs")
        if existed:
            found = read_version(self.conn) if self._has_table(self.conn, "journal_info") else None
            if found is not None and found > SCHEMA_VERSION:
                raise refuse_newer(found, self.display)
        self.conn.executescript(SCHEMA + MIGRATIONS_SCHEMA + ";\n")
        # A journal with tables but no version row predates versioning: version 1.
        self.conn.execute(INIT_VERSION, (str(SCHEMA_VERSION if not existed else 1),))
        found = read_version(self.conn) or SCHEMA_VERSION
        if found > SCHEMA_VERSION:
            raise refuse_newer(found, self.display)
        if found < SCHEMA_VERSION:
            upgrade(self.conn, self.pg, self.display)

    def for_run(self, redo: bool = False) -> RunJournal:
        """A group-committing writer for one run (one event loop). ``redo``: sequential steps may
        be made durable in a redo log and reach SQLite later (the run must ``close()`` it)."""
        return RunJournal(self, redo)

    def replay_redo(self) -> int:
        """Apply what the redo logs of dead writers hold past their marks (see ``redo.py``); the
        number of records applied. Cheap when there is none (one ``listdir``)."""
        if not self.redo:
            return 0
        applied = 0
        for name, fd in redo.orphaned_logs(self.path):
            try:
                mark = redo.mark_name(name)
                records = redo.parse(redo.read_all(fd))
                with self.lock:
                    row = self.conn.execute(REDO_GET_MARK, (mark,)).fetchone()
                    done = int(row[0]) if row is not None else 0
                    owner = redo.owner_of(records)
                    if owner is not None and self._run_taken_from(*owner):
                        records = []  # its driver lost the run: those steps were the new owner's to run
                    todo = [(REDO_STATEMENTS[code], params) for seq, code, params in records if seq > done]
                    if todo:
                        self.commit([*todo, (REDO_SET_MARK, (mark, str(records[-1][0])))])
                        applied += len(todo)
                    os.unlink(os.path.join(redo.log_dir(self.path), name))
                    self.conn.execute(REDO_DEL_MARK, (mark,))
            finally:
                os.close(fd)
        return applied

    def commit(self, statements: list[tuple[str, Sequence[Any]]], fence: RunFence | None = None) -> None:
        """Run statements in one transaction (same statements in a row go through ``executemany``).

        With ``fence``, the transaction first checks that the fence's driver still holds its run's
        lease (and pushes the lease's expiry ahead): a driver whose run was taken over writes nothing
        (:class:`flyte.errors.RunOwnershipLostError`)."""
        if not statements and fence is None:
            return
        if self.pg:
            statements = _whole(statements)
        with self.lock:
            if self._reader is not None and self._reader.in_transaction:
                self._reader.execute("COMMIT")  # the next cache lookup sees what this commits
            if fence is None and len(statements) == 1:  # its own transaction: no BEGIN/COMMIT trips
                if statements[0][0] is UPSERT_ACTION and not self.pg:
                    self._upsert_actions([statements[0][1]])
                else:
                    self.conn.execute(*statements[0])
                return
            if fence is not None and self.pg:
                if fence.error is not None:
                    raise fence.error
                if (
                    fence.generation == self.conn.generation
                    and self.conn.session_ok
                    and time.time() < fence.trusted_until
                ):
                    # Still this driver's run, on the session holding the run's lock: a takeover
                    # would first end that session, so this write cannot land after one.
                    if len(statements) == 1:
                        self.conn.execute(*statements[0])
                        return
                    fence = None
            # SQLite: a fenced commit holds the writer lock a takeover needs before it decides
            # whether to check the lease: a driver frozen anywhere before that point finds its
            # trust expired when it is thawed.
            try:
                self._transaction(statements, fence)
            except Exception:
                if fence is None or not self.pg or self.conn.session_ok:
                    raise
                # The session died under this fenced commit (a driver that took the run over ends
                # its previous driver's sessions): nothing was written. Once more on a new session,
                # whose new generation makes the commit check the lease: the caller learns whether
                # the run is still its own (RunOwnershipLostError) rather than a broken connection.
                fence.trusted_until = 0.0
                self._transaction(statements, fence)

    def _transaction(self, statements: list[tuple[str, Sequence[Any]]], fence: RunFence | None) -> None:
        self.conn.execute(self._begin if fence is None else "BEGIN IMMEDIATE")
        try:
            if fence is not None:
                if fence.error is not None:
                    raise fence.error
                if time.time() >= fence.trusted_until:
                    self._check_fence(fence)
            # runs of one statement, in order (grouped in C: issue 20, a fan-out's 10k rows)
            for sql, run in itertools.groupby(statements, _FIRST):
                rows = list(map(_PARAMS, run))
                if sql is UPSERT_ACTION and not self.pg:
                    self._upsert_actions(rows)
                else:
                    self.conn.executemany(sql, rows)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _upsert_actions(self, rows: list[Sequence[Any]]) -> None:
        """``UPSERT_ACTION`` for ``rows``, in order: a succeeded inline Python task's row without error,
        group or meta (all of them, usually) through ``UPSERT_ACTION_DONE`` (12 values bound, not 19),
        other rows without those three through ``UPSERT_ACTION_SHORT`` (16), the rest whole."""
        ba, small = bytearray, _SMALL_BLOB
        done = [  # small bytes as bytearray: bound as the same BLOB without the adapter lookup
            (
                a, b, c, d, f, g, j, k, l_, m,
                ba(n) if n.__class__ is bytes and len(n) < small else n,
                ba(o) if o.__class__ is bytes and len(o) < small else o,
            )
            for a, b, c, d, e, f, g, h, i, j, k, l_, m, n, o, x, y, r, z in rows
            if i == "SUCCEEDED" and e == "task" and h == "python" and r == "inline"
            and x is None and y is None and z is None
        ]  # fmt: skip
        if len(done) == len(rows):
            self.conn.executemany(UPSERT_ACTION_DONE, done)
            return
        if done:
            rest = [
                p for p in rows
                if not (p[8] == "SUCCEEDED" and p[4] == "task" and p[7] == "python" and p[17] == "inline"
                        and p[15] is None and p[16] is None and p[18] is None)
            ]  # fmt: skip
            if not set(map(_ROW_KEY, rest)).isdisjoint(map(_ROW_KEY, done)):
                # An action with rows of both kinds: each row in its turn (a later row of an action
                # must land after an earlier one).
                self._upsert_runs(rows, [_shape(p) for p in rows])
                return
            # No action has rows of both kinds, and rows of different actions commute: the
            # succeeded ones in one statement (not one per run between the others).
            self.conn.executemany(UPSERT_ACTION_DONE, done)
            rows = rest
        plain = [p[15] is None and p[16] is None and p[18] is None for p in rows]
        if all(plain):
            self.conn.executemany(UPSERT_ACTION_SHORT, [_short(p) for p in rows])
        else:
            self._upsert_runs(rows, [1 if k else 2 for k in plain])

    def _upsert_runs(self, rows: list[Sequence[Any]], shapes: list[int]) -> None:
        """Consecutive runs of rows of one shape (see ``_shape``), each through its statement, in order."""
        i, n = 0, len(rows)
        while i < n:
            j = i + 1
            while j < n and shapes[j] == shapes[i]:
                j += 1
            part = rows[i:j]
            if shapes[i] == 0:
                self.conn.executemany(UPSERT_ACTION_DONE, [_done(p) for p in part])
            elif shapes[i] == 1:
                self.conn.executemany(UPSERT_ACTION_SHORT, [_short(p) for p in part])
            else:
                self.conn.executemany(UPSERT_ACTION, part)
            i = j

    def _check_fence(self, fence: RunFence) -> None:
        """Inside a writer transaction (the lease's takeover takes the same lock): does ``fence``'s
        driver still hold the run's lease? Renew it when so; raise who owns the run now when not."""
        row = self.conn.execute("SELECT owner FROM run_leases WHERE run=?", (fence.run,)).fetchone()
        if row is None or row[0] != fence.owner:
            successor = self.conn.execute(self._RUN_SUCCESSOR, (fence.run, fence.owner)).fetchone()
            raise fence.lost(*((successor[1], successor[0]) if successor else (None, None)))
        now = time.time()
        self.conn.execute(self._RUN_LEASE_RENEW, (now, now + fence.ttl, fence.run, fence.owner))
        if self.pg and fence.generation != self.conn.generation:  # a new session: lock the run on it
            self.conn.hold_run(fence.run)
            fence.generation = self.conn.generation
        fence.trust(now)

    def cache_lookup(self, key: str, max_age: float | None = None) -> bytes | None:
        """``cache_get`` for a run's many lookups: through a read transaction kept open for up to
        READ_SNAPSHOT seconds (issue 20: an autocommit SELECT takes and drops WAL read locks, two
        ``fcntl`` calls and most of a cache hit's lookup). Any write of this journal ends it, so this
        process always reads its own writes; other processes' writes show within READ_SNAPSHOT.
        An entry found once is answered from memory until the cache table changes (``_memo``)."""
        if self._readable is None:
            return self.cache_get(key, max_age)
        with self.lock:
            r, cur = self._reader, self._read_cur
            if r is None or cur is None:
                r = self._reader = sqlite3.connect(
                    self._readable, timeout=60, check_same_thread=False, isolation_level=None
                )
                cur = self._read_cur = r.cursor()  # one cursor for every lookup: no object per call
                self._start_memo()
            now = time.monotonic()
            memo = self._memo
            if (  # the usual lookup of a run's many: the snapshot and every remembered entry still hold
                memo is not None
                and now - self._read_since <= READ_SNAPSHOT
                and self._cache_writes == self._memo_stamp[1]
                and r.in_transaction  # (its data_version is the stamp's: read when it began)
            ):
                got = memo.get(key)
                if got is not None:
                    outputs, created = got
                    if max_age and created is not None and time.time() - created > max_age:
                        return None
                    return outputs
            if r.in_transaction and (
                now - self._read_since > READ_SNAPSHOT
                # this connection changed the cache table: read it from a snapshot holding that
                or (memo is not None and self._cache_writes != self._memo_stamp[1])
            ):
                r.execute("COMMIT")
            if not r.in_transaction:
                if memo is not None:  # before the snapshot: a commit after it shows next time
                    self._data_version = self.conn.execute("PRAGMA data_version").fetchone()[0]
                r.execute("BEGIN")
                self._read_since = now
            got = None
            if memo is not None:
                stamp = (self._data_version, self._cache_writes)
                if stamp != self._memo_stamp:  # the table changed (here or elsewhere): forget
                    memo.clear()
                    self._memo_stamp = stamp
                got = memo.get(key)
            if got is None:
                row = cur.execute(CACHE_GET, (key,)).fetchone()
                if row is None:
                    return None
                got = (bytes(row[0]), row[1])
                if memo is not None and len(got[0]) <= MEMO_VALUE:
                    if len(memo) >= MEMO_ENTRIES:
                        memo.clear()
                    memo[key] = got
        outputs, created = got
        if max_age and created is not None and time.time() - created > max_age:
            return None
        return outputs

    def _start_memo(self) -> None:
        """Count this connection's own changes of the cache table (whatever code makes them):
        temporary triggers, seen by this connection only, call back into this process."""

        def changed() -> None:
            self._cache_writes += 1

        try:
            self.conn.create_function("flyte_cache_changed", 0, changed)
            for sql in _MEMO_TRIGGERS:
                self.conn.execute(sql)
        except sqlite3.Error:  # e.g. a read-only journal: every lookup reads the table
            self._memo = None
            return
        self._memo = {}

    def end_read(self) -> None:
        """End the lookups' read transaction (after a write, so the next lookup sees it)."""
        r = self._reader
        if r is not None and r.in_transaction:
            with self.lock:
                if r.in_transaction:
                    r.execute("COMMIT")

    # ---- direct access --------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.lock:
            self.conn.execute(sql, params)
        self.end_read()

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
            row = self.conn.execute(CACHE_GET, (key,)).fetchone()
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
        fence: RunFence | None = None,
    ) -> int:
        """Record a new run and its first execution segment (number returned). Raises
        ``FileExistsError`` when a run of that name exists (another process may have just made it).
        ``fence``: the driver's lease on the run (issue 25), checked when not renewed lately."""
        segment, seg_stmts = new_segment(self, name, now, pid, first=True)
        row = (name, task_name, module_file, module_name, attr, inputs, status, now, now, store_prefix, host)
        try:
            self.commit([(CREATE_RUN, (*row, user, pid, settings)), *seg_stmts], fence)
        except self.integrity_errors:
            raise FileExistsError(name) from None
        return segment

    def run_resumed(
        self, name: str, status: str, now: float, pid: int, settings: str, fence: RunFence | None = None
    ) -> int:
        """A recovery of ``name`` starts: a new execution segment (number returned). Raises
        ``FileExistsError`` when another driver started a segment of it meanwhile (the segment's
        key arbitrates: of two drivers recovering one run at once, one goes on). ``fence``: the
        driver's lease (issue 25): one that lost it does not mark the run running again."""
        try:
            segment, seg_stmts = new_segment(self, name, now, pid, first=False)
        except Exception:
            if fence is None or not self.pg or self.conn.session_ok:
                raise
            # The session was ended by a driver taking the run over: say so (the lease check
            # raises RunOwnershipLostError), else read again on the new session.
            fence.trusted_until = 0.0
            self.commit([], fence)
            segment, seg_stmts = new_segment(self, name, now, pid, first=False)
        try:
            self.commit([*seg_stmts, (RESUME_RUN, (status, pid, settings, name))], fence)
        except self.integrity_errors:
            raise FileExistsError(name) from None
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
        fence: RunFence | None = None,
    ) -> None:
        """Close the run and its segment; actions still ``left_running[0]`` (RUNNING) become
        ``left_running[1]`` (ABORTED) with error ``left_running[2]``: nobody will finish them.
        ``fence``: the driver's lease (issue 25): a driver whose run was taken over records no end
        (:class:`flyte.errors.RunOwnershipLostError`); the new owner's record stays."""
        running, aborted, aborted_error = left_running
        self.commit(
            [
                (FINISH_RUN, (status, ended, error, root_action, name)),
                (CLOSE_SEGMENT, (ended, status, error, name, segment)),
                (ABANDON_ACTIONS, (aborted, ended, aborted_error, name, running)),
            ],
            fence,
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

    def run_aborted(
        self,
        run: str,
        aborted: str,
        running: str,
        error: str,
        action_error: str,
        gone: Callable[[RunLease], bool] = lambda lease: False,
    ) -> RunLease | None:
        """Record an interrupted run (and its unfinished actions and open segment) as aborted.

        Not while a driver, on any host, holds the run's live lease (issue 25: the run is executing,
        perhaps recovered elsewhere): that lease is returned and nothing is written (``gone``: True
        for a holder known dead, as in ``run_lease_take``). The check and the writes share one
        writer transaction, which a driver taking the lease needs too."""
        self._run_lease_tables()
        now = time.time()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                row = self.conn.execute(self._RUN_LEASE_GET, (run,)).fetchone()
                if row is not None and RunLease(*row).expires_at > now and not gone(RunLease(*row)):
                    self.conn.execute("ROLLBACK")
                    return RunLease(*row)
                self.conn.execute(ABORT_RUN, (aborted, now, error, run, running))
                self.conn.execute(ABANDON_ACTIONS, (aborted, now, action_error, run, running))
                self.conn.execute(ABORT_SEGMENT, (aborted, now, run))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return None

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

    def recorded_actions(self, run: str) -> list[RecordedRow]:
        """What a recovery needs of each action of ``run`` (ids, position, identity, result, meta)."""
        with self.lock:
            rows = self.conn.execute(RECORDED_ACTIONS, (run,)).fetchall()
        return [RecordedRow(*r) for r in rows]

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
        self.end_read()
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
        self.end_read()

    def close(self) -> None:
        with self.lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = self._read_cur = None
            self.conn.close()

    # ---- issue 18.12: cross-run cache serialization (Cache(serialize=True) leases) ----------------
    # One row per cache key being computed (``cache_leases``: who holds it, until when) and an
    # append-only history of what happened to each key (``cache_lease_events``). Created on first use
    # so that a journal written before them gains them.
    _LEASE_SCHEMA = """
    CREATE TABLE IF NOT EXISTS cache_leases(
      key TEXT PRIMARY KEY, owner TEXT NOT NULL, run TEXT, action_id TEXT, attempt INTEGER,
      pid INTEGER, host TEXT, acquired_at REAL, expires_at REAL, ttl REAL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS cache_lease_events(
      key TEXT NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, run TEXT, action_id TEXT, owner TEXT,
      other_run TEXT, other_owner TEXT, detail TEXT
    );
    CREATE INDEX IF NOT EXISTS cache_lease_events_by_run ON cache_lease_events(run, at);
    CREATE INDEX IF NOT EXISTS cache_lease_events_by_key ON cache_lease_events(key, at);
    """
    _LEASE_GET = (
        "SELECT key, owner, run, action_id, attempt, pid, host, acquired_at, expires_at, ttl"
        " FROM cache_leases WHERE key=?"
    )
    _LEASE_EVENT = (
        "INSERT INTO cache_lease_events(key, at, event, run, action_id, owner, other_run, other_owner,"
        " detail) VALUES(?,?,?,?,?,?,?,?,?)"
    )
    _LEASE_RENEW = "UPDATE cache_leases SET expires_at=? WHERE key=? AND owner=?"
    _lease_ready = False

    def _lease_tables(self) -> None:
        if not self._lease_ready:
            with self.lock:
                self.conn.executescript(self._LEASE_SCHEMA)
            self._lease_ready = True

    def _cache_entry(self, key: str, max_age: float | None) -> tuple[bytes, str | None, str | None] | None:
        """(outputs, run, action ID) of a usable cache entry; call with the lock held."""
        row = self.conn.execute(
            "SELECT outputs, created_at, run, action_id FROM cache WHERE key=?", (key,)
        ).fetchone()
        if row is None or (max_age and row[1] is not None and time.time() - row[1] > max_age):
            return None
        return bytes(row[0]), row[2], row[3]

    def _lease_row(self, key: str) -> LeaseHolder | None:
        row = self.conn.execute(self._LEASE_GET, (key,)).fetchone()
        return None if row is None else LeaseHolder(*row)

    def lease_try_acquire(
        self,
        key: str,
        owner: LeaseOwner,
        ttl: float,
        max_age: float | None,
        holder_dead: Callable[[LeaseHolder], bool],
    ) -> LeaseAttempt:
        """One try to become the computer of ``key``: a usable cache entry wins ("hit"), else a live
        holder keeps it ("held"), else this owner takes the lease ("acquired", a takeover when an
        expired or dead holder is replaced). The check and the claim are one BEGIN IMMEDIATE
        transaction, so of several processes trying at once exactly one acquires."""
        self._lease_tables()
        now = time.time()
        with self.lock:  # a read first: waiters poll without taking the write lock
            entry = self._cache_entry(key, max_age)
            holder = None if entry is not None else self._lease_row(key)
        if entry is not None:
            return LeaseAttempt("hit", outputs=entry[0], source_run=entry[1], source_action=entry[2])
        if holder is not None and holder.expires_at > now and not holder_dead(holder):
            return LeaseAttempt("held", holder=holder)
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                entry = self._cache_entry(key, max_age)
                if entry is not None:
                    self.conn.execute("COMMIT")
                    return LeaseAttempt("hit", outputs=entry[0], source_run=entry[1], source_action=entry[2])
                holder = self._lease_row(key)
                reason = None
                if holder is not None and holder.owner != owner.id:
                    if holder.expires_at > now and not holder_dead(holder):
                        self.conn.execute("COMMIT")
                        return LeaseAttempt("held", holder=holder)
                    reason = "lease expired" if holder.expires_at <= now else "owner process gone"
                self.conn.execute(
                    "INSERT OR REPLACE INTO cache_leases(key, owner, run, action_id, attempt, pid, host,"
                    " acquired_at, expires_at, ttl) VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (
                        key,
                        owner.id,
                        owner.run,
                        owner.action_id,
                        owner.attempt,
                        owner.pid,
                        owner.host,
                        now,
                        now + ttl,
                        ttl,
                    ),
                )
                event: tuple[str, str | None, str | None, str | None] = ("acquired", None, None, None)
                if reason is not None:
                    assert holder is not None
                    event = ("took_over", holder.run, holder.owner, reason)
                self.conn.execute(
                    self._LEASE_EVENT, (key, now, event[0], owner.run, owner.action_id, owner.id, *event[1:])
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return LeaseAttempt("acquired", holder=holder if reason is not None else None, reason=reason)

    def lease_renew(self, leases: Iterable[tuple[str, str, float]]) -> list[tuple[str, str]]:
        """Extend each held lease ``(key, owner id, ttl)`` by its TTL from now (the heartbeat).
        Returns those this owner no longer holds: released meanwhile, or taken over (the caller tells
        which, and records a loss with :meth:`lease_lost`)."""
        self._lease_tables()
        lost: list[tuple[str, str]] = []
        if self.pg:  # on its own session: a heartbeat never waits behind the run's group commits
            with self.conn.side_transaction() as run:
                now = time.time()
                for key, owner_id, ttl in leases:
                    cur = run(self._LEASE_RENEW, (now + ttl, key, owner_id))
                    if cur.rowcount == 0:
                        lost.append((key, owner_id))
            return lost
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                for key, owner_id, ttl in leases:
                    cur = self.conn.execute(self._LEASE_RENEW, (now + ttl, key, owner_id))
                    if cur.rowcount == 0:
                        lost.append((key, owner_id))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return lost

    def lease_lost(self, key: str, owner_id: str) -> LeaseHolder | None:
        """Record that ``owner_id``'s lease of ``key`` was taken over while it still ran; returns the
        holder now (None if that one is done too)."""
        self._lease_tables()
        with self.lock:
            holder = self._lease_row(key)
            self.conn.execute(
                self._LEASE_EVENT,
                (
                    key,
                    time.time(),
                    "lost",
                    *_owner_parts(owner_id),
                    holder.run if holder else None,
                    holder.owner if holder else None,
                    "the lease expired and was taken over while this owner still ran",
                ),
            )
        return holder

    def lease_release(self, key: str, owner_id: str, outcome: str) -> bool:
        """Give the lease up (the entry is written, or the computation failed or was aborted) and
        record how it ended. False when this owner no longer held it."""
        self._lease_tables()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self.conn.execute("DELETE FROM cache_leases WHERE key=? AND owner=?", (key, owner_id))
                held: bool = cur.rowcount > 0
                detail = outcome if held else f"{outcome} (the lease had been taken over)"
                self.conn.execute(
                    self._LEASE_EVENT,
                    (key, time.time(), "released", *_owner_parts(owner_id), None, None, detail),
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return held

    def lease_release_statements(
        self, key: str, owner_id: str, outcome: str
    ) -> list[tuple[str, Sequence[Any]]]:
        """:meth:`lease_release` as statements, to commit with the cache entry (one transaction)."""
        run, action_id, _ = _owner_parts(owner_id)
        return [
            (
                "INSERT INTO cache_lease_events(key, at, event, run, action_id, owner, detail)"
                " SELECT ?, ?, 'released', ?, ?, ?, CASE WHEN EXISTS"
                "(SELECT 1 FROM cache_leases WHERE key=? AND owner=?) THEN ? ELSE ? END",
                (
                    key,
                    time.time(),
                    run,
                    action_id,
                    owner_id,
                    key,
                    owner_id,
                    outcome,
                    f"{outcome} (the lease had been taken over)",
                ),
            ),
            ("DELETE FROM cache_leases WHERE key=? AND owner=?", (key, owner_id)),
        ]

    def lease_note(
        self,
        key: str,
        event: str,
        owner: LeaseOwner,
        other_run: str | None = None,
        other_owner: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append a waiter's event to a key's history ("waiting", "reused")."""
        self._lease_tables()
        with self.lock:
            self.conn.execute(
                self._LEASE_EVENT,
                (
                    key,
                    time.time(),
                    event,
                    owner.run,
                    owner.action_id,
                    owner.id,
                    other_run,
                    other_owner,
                    detail,
                ),
            )

    def lease_holder(self, key: str) -> LeaseHolder | None:
        """Who holds the lease of ``key`` now (None when nobody computes it)."""
        self._lease_tables()
        with self.lock:
            return self._lease_row(key)

    def lease_events(self, run: str | None = None, key: str | None = None) -> list[dict[str, Any]]:
        """The lease history of a run's actions (or of one cache key), oldest first."""
        self._lease_tables()
        clauses = [(c, v) for c, v in (("run=?", run), ("key=?", key)) if v is not None]
        if not clauses:
            raise ValueError("lease_events needs a run or a key")
        where = " AND ".join(c for c, _ in clauses)
        params = tuple(v for _, v in clauses)
        rows = self.query(
            "SELECT key, at, event, run, action_id, owner, other_run, other_owner, detail"
            f" FROM cache_lease_events WHERE {where} ORDER BY at, rowid",
            params,
        )
        return [dict(r) for r in rows]

    # ---- issue 22: triggers fired by the local scheduler, notification deliveries ----------------
    # Tables created on first use, so journals written before they existed stay readable.
    _ISSUE22_SCHEMA = """
    CREATE TABLE IF NOT EXISTS trigger_state(
      key TEXT PRIMARY KEY, task_name TEXT, trigger_name TEXT, source TEXT, spec TEXT,
      activated_at REAL, last_seen REAL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS trigger_fires(
      key TEXT NOT NULL, scheduled_at REAL NOT NULL, fired_at REAL, run TEXT, status TEXT,
      PRIMARY KEY(key, scheduled_at)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS trigger_meta(name TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS notify_deliveries(
      run TEXT NOT NULL, n INTEGER NOT NULL, attempt INTEGER NOT NULL, kind TEXT, target TEXT,
      phase TEXT, status TEXT, error TEXT, at REAL, spec TEXT,
      PRIMARY KEY(run, n, attempt)
    ) WITHOUT ROWID;
    """

    def _issue22_tables(self) -> None:
        if not getattr(self, "_issue22_ready", False):
            with self.lock:
                self.conn.executescript(self._ISSUE22_SCHEMA)
            self._issue22_ready = True

    # ---- issue 25: run leases (which driver owns a running run, across hosts) --------------------
    # One row per run a driver executes: renewed by the driver's heartbeat, deleted at its end. A
    # driver on another host (which cannot see the owner's process) refuses the run while the lease
    # is fresh and takes it over once it expired. Created on first use.
    _RUN_LEASE_SCHEMA = """
    CREATE TABLE IF NOT EXISTS run_leases(
      run TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT, pid INTEGER, acquired_at REAL,
      renewed_at REAL, expires_at REAL, ttl REAL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS run_takeovers(
      run TEXT NOT NULL, prior_owner TEXT NOT NULL, owner TEXT NOT NULL, host TEXT, at REAL NOT NULL,
      PRIMARY KEY(run, prior_owner)
    ) WITHOUT ROWID;
    """
    _RUN_SUCCESSOR = (
        "SELECT owner, host FROM run_leases WHERE run=?1 AND owner<>?2 UNION ALL"
        " SELECT owner, host FROM run_takeovers WHERE run=?1 AND prior_owner=?2"
    )
    _RUN_LEASE_GET = (
        "SELECT run, owner, host, pid, acquired_at, renewed_at, expires_at, ttl FROM run_leases WHERE run=?"
    )

    def _run_lease_tables(self) -> None:
        if not getattr(self, "_run_lease_ready", False):
            with self.lock:
                self.conn.executescript(self._RUN_LEASE_SCHEMA)
            self._run_lease_ready = True

    def _run_taken_from(self, run: str, owner: str) -> bool:
        """Was ``run`` taken over from the driver ``owner`` (a ``run_takeovers`` row)?"""
        self._run_lease_tables()
        with self.lock:
            row = self.conn.execute(
                "SELECT 1 FROM run_takeovers WHERE run=? AND prior_owner=?", (run, owner)
            ).fetchone()
        return row is not None

    def run_lease_get(self, run: str) -> RunLease | None:
        self._run_lease_tables()
        if self.pg:  # on its own session, as the heartbeat
            _, rows = self.conn.side(self._RUN_LEASE_GET, (run,))
            return RunLease(*rows[0]) if rows else None
        with self.lock:
            row = self.conn.execute(self._RUN_LEASE_GET, (run,)).fetchone()
        return None if row is None else RunLease(*row)

    def run_lease_take(
        self,
        run: str,
        owner: str,
        host: str,
        pid: int,
        ttl: float,
        holder_gone: Callable[[RunLease], bool],
    ) -> RunLease | None:
        """Become the driver of ``run``: None when taken (no lease, an expired one, or one whose
        holder is gone), else the live holder's lease. Check and claim are one writer transaction."""
        self._run_lease_tables()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                row = self.conn.execute(self._RUN_LEASE_GET, (run,)).fetchone()
                holder = None if row is None else RunLease(*row)
                if holder is not None and holder.owner != owner:
                    if holder.expires_at > now and not holder_gone(holder):
                        self.conn.execute("COMMIT")
                        return holder
                    self.conn.execute(  # what the prior owner learns, should it come back (fencing)
                        "INSERT OR REPLACE INTO run_takeovers(run, prior_owner, owner, host, at)"
                        " VALUES(?,?,?,?,?)",
                        (run, holder.owner, owner, host, now),
                    )
                    if self.pg:  # its late writes meet a dead session (see PgConnection.hold_run)
                        self.conn.evict_run(run)
                self.conn.execute(
                    "INSERT OR REPLACE INTO run_leases(run, owner, host, pid, acquired_at, renewed_at,"
                    " expires_at, ttl) VALUES(?,?,?,?,?,?,?,?)",
                    (run, owner, host, pid, now, now, now + ttl, ttl),
                )
                if self.pg:
                    self.conn.hold_run(run)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return None

    def run_lease_successor(self, run: str, owner: str) -> tuple[str, str | None] | None:
        """(owner, host) of the driver that took ``run`` over from ``owner``; None when unknown."""
        self._run_lease_tables()
        with self.lock:
            row = self.conn.execute(self._RUN_SUCCESSOR, (run, owner)).fetchone()
        return None if row is None else (row[0], row[1])

    _RUN_LEASE_RENEW = "UPDATE run_leases SET renewed_at=?, expires_at=? WHERE run=? AND owner=?"

    def run_lease_renew(self, run: str, owner: str, ttl: float) -> bool:
        """Push the lease's expiry ``ttl`` ahead; False when ``owner`` no longer holds it.

        On PostgreSQL it runs on its own pooled session, outside the journal's lock: a heartbeat
        never waits behind the writer's transaction (a lease must not expire while its run writes)."""
        now = time.time()
        if self.pg:
            count, _ = self.conn.side(self._RUN_LEASE_RENEW, (now, now + ttl, run, owner))
            return bool(count)
        with self.lock:
            cur = self.conn.execute(self._RUN_LEASE_RENEW, (now, now + ttl, run, owner))
            return bool(cur.rowcount)

    def run_lease_release(self, run: str, owner: str) -> None:
        with self.lock:
            if self.pg and not self.conn.session_ok:
                self.conn.execute("SELECT 1")  # ended by a takeover (evict_run): a new session
            try:
                self.conn.execute("DELETE FROM run_leases WHERE run=? AND owner=?", (run, owner))
            except Exception:
                if not self.pg or self.conn.session_ok:
                    raise
                self.conn.execute("DELETE FROM run_leases WHERE run=? AND owner=?", (run, owner))
            if self.pg:
                self.conn.unhold_run(run)

    def trigger_activate(
        self, key: str, task_name: str, trigger_name: str, source: str, spec: str, now: float
    ) -> float:
        """Record a trigger the scheduler serves; returns when it was first activated (kept across
        restarts)."""
        self._issue22_tables()
        self.commit(
            [
                (
                    "INSERT INTO trigger_state(key, task_name, trigger_name, source, spec, activated_at,"
                    " last_seen) VALUES(?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET spec=excluded.spec,"
                    " source=excluded.source, last_seen=excluded.last_seen",
                    (key, task_name, trigger_name, source, spec, now, now),
                )
            ]
        )
        row = self.query_one("SELECT activated_at FROM trigger_state WHERE key=?", (key,))
        return float(row["activated_at"]) if row is not None else now

    def trigger_states(self) -> list[dict[str, Any]]:
        self._issue22_tables()
        return [dict(r) for r in self.query("SELECT * FROM trigger_state ORDER BY key")]

    def trigger_last_scheduled(self, key: str) -> float | None:
        """The latest occurrence of a trigger that was journaled (fired or skipped)."""
        self._issue22_tables()
        row = self.query_one("SELECT MAX(scheduled_at) AS t FROM trigger_fires WHERE key=?", (key,))
        return None if row is None or row["t"] is None else float(row["t"])

    def trigger_journal_fires(
        self, key: str, fires: Sequence[tuple[float, str | None, str]], now: float
    ) -> list[float]:
        """Journal occurrences (scheduled_at, run name or None, status) in one transaction, before
        any of their runs starts. An occurrence journaled before (by an earlier or a concurrent
        scheduler) is left as it is; returns the scheduled times this call added."""
        self._issue22_tables()
        added: list[float] = []
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for at, run, status in fires:
                    cur = self.conn.execute(
                        "INSERT OR IGNORE INTO trigger_fires(key, scheduled_at, fired_at, run, status)"
                        " VALUES(?,?,?,?,?)",
                        (key, at, now, run, status),
                    )
                    if cur.rowcount == 1:
                        added.append(at)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return added

    def trigger_set_fire_status(self, key: str, scheduled_at: float, status: str) -> None:
        self._issue22_tables()
        self.commit(
            [
                (
                    "UPDATE trigger_fires SET status=? WHERE key=? AND scheduled_at=?",
                    (status, key, scheduled_at),
                )
            ]
        )

    def trigger_fires(self, key: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Journaled occurrences, newest first, with the status of the run each one started."""
        self._issue22_tables()
        sql = (
            "SELECT f.key, f.scheduled_at, f.fired_at, f.run, f.status, r.status AS run_status"
            " FROM trigger_fires f LEFT JOIN runs r ON r.name = f.run"
        )
        params: tuple[Any, ...] = ()
        if key is not None:
            sql += " WHERE f.key=?"
            params = (key,)
        sql += " ORDER BY f.scheduled_at DESC, f.key LIMIT ?"
        return [dict(r) for r in self.query(sql, (*params, limit))]

    def trigger_fire_of_run(self, run: str) -> dict[str, Any] | None:
        self._issue22_tables()
        row = self.query_one(
            "SELECT f.key, f.scheduled_at, f.fired_at, f.status, s.spec FROM trigger_fires f"
            " LEFT JOIN trigger_state s ON s.key = f.key WHERE f.run=?",
            (run,),
        )
        return None if row is None else dict(row)

    def trigger_meta(self, name: str, default: str) -> str:
        """A scheduler setting kept across restarts; ``default`` is stored when there is none yet."""
        self._issue22_tables()
        self.commit([("INSERT OR IGNORE INTO trigger_meta(name, value) VALUES(?,?)", (name, default))])
        row = self.query_one("SELECT value FROM trigger_meta WHERE name=?", (name,))
        return str(row["value"]) if row is not None else default

    def notify_record(
        self,
        run: str,
        n: int,
        attempt: int,
        kind: str,
        target: str,
        phase: str,
        status: str,
        error: str | None,
        at: float,
        spec: str | None = None,
    ) -> None:
        """One delivery attempt of a run's notification (attempt 0: queued, before any send)."""
        self._issue22_tables()
        self.commit(
            [
                (
                    "INSERT OR REPLACE INTO notify_deliveries(run, n, attempt, kind, target, phase, status,"
                    " error, at, spec) VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (run, n, attempt, kind, target, phase, status, error, at, spec),
                )
            ]
        )

    @staticmethod
    def _has_table(conn: sqlite3.Connection, name: str) -> bool:
        """Issue 22's tables are created on first use: an older journal may not have them."""
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,))
        return found.fetchone() is not None

    @staticmethod
    def read_run_trigger(conn: sqlite3.Connection, run: str) -> dict[str, Any] | None:
        """For a read-only connection (``flyte ui``): the trigger occurrence that started ``run``."""
        if not Journal._has_table(conn, "trigger_fires"):
            return None
        row = conn.execute(
            "SELECT f.key, f.scheduled_at, f.fired_at, f.status, s.spec, s.source FROM trigger_fires f"
            " LEFT JOIN trigger_state s ON s.key = f.key WHERE f.run=?",
            (run,),
        ).fetchone()
        if row is None:
            return None
        cols = ("key", "scheduled_at", "fired_at", "status", "spec", "source")
        return dict(zip(cols, tuple(row), strict=True))

    @staticmethod
    def read_run_deliveries(conn: sqlite3.Connection, run: str) -> list[dict[str, Any]]:
        """For a read-only connection (``flyte ui``): the run's notification delivery attempts."""
        if not Journal._has_table(conn, "notify_deliveries"):
            return []
        cols = ("n", "attempt", "kind", "target", "phase", "status", "error", "at")
        rows = conn.execute(
            f"SELECT {', '.join(cols)} FROM notify_deliveries WHERE run=? ORDER BY n, attempt", (run,)
        ).fetchall()
        return [dict(zip(cols, tuple(r), strict=True)) for r in rows]

    def notify_deliveries(self, run: str | None = None) -> list[dict[str, Any]]:
        """Delivery attempts (of one run, or all), in order."""
        self._issue22_tables()
        if run is None:
            rows = self.query("SELECT * FROM notify_deliveries ORDER BY run, n, attempt")
        else:
            rows = self.query("SELECT * FROM notify_deliveries WHERE run=? ORDER BY n, attempt", (run,))
        return [dict(r) for r in rows]


REDO_SET_MARK = "INSERT OR REPLACE INTO journal_info(name, value) VALUES(?, ?)"
REDO_GET_MARK = "SELECT value FROM journal_info WHERE name=?"
REDO_DEL_MARK = "DELETE FROM journal_info WHERE name=?"
REDO_STATEMENTS = (UPSERT_ACTION, SET_META, UPSERT_ACTION_DONE)
"""What a run's redo log may hold (by index): the statements a step waits on (``_durable``). Codes
are kept: a new statement takes the next one."""

REDO_BATCH = 4096
REDO_DELAY = 0.05
"""While a run's redo log holds its unapplied steps, SQLite gets them every REDO_BATCH steps or
REDO_DELAY seconds, whichever comes first (other processes read the journal that much later)."""

REDO_GROUP = 32
"""At most this many waited-on rows of one group commit go to the redo log instead (``_log_waited``)."""

INLINE_RUN = 64
"""At most this many commits in a row are made at once (without a loop turn) by ``_durable``."""


class RunFence(Protocol):
    """A driver's claim on a run (``run_lease.RunOwnership``), checked by its fenced commits."""

    run: str
    owner: str
    ttl: float
    trusted_until: float
    generation: int
    error: RunOwnershipLostError | None

    def trust(self, renewed_at: float) -> None: ...

    def lost(self, host: str | None, owner: str | None) -> RunOwnershipLostError: ...


class PendingStart:
    """A start row not built yet (``RunJournal.action_running``): ``running()`` builds it."""

    __slots__ = ()

    def running(self) -> ActionRow:
        raise NotImplementedError


_BUILTIN_METHOD = type(len)


class _GroupFuture(asyncio.Future):  # type: ignore[type-arg]
    """The future a group commit's waiters share (issue 20: a fan-out of 10k children).

    Cancelling one waiting task must not cancel the others' wait, so ``cancel`` is refused: the
    task's cancellation reaches it when the commit resolves this future (the next loop turn), as it
    would have after a future of its own. Its waiters are woken by one loop callback, in the order
    they came, not by one ``call_soon`` (a Python call and a handle) each."""

    __slots__ = ("_ok", "_woken")

    def __init__(self, *, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        # (context, fn, arg) per waiter: what Context.run takes, so _wake runs them all in C
        self._woken: list[tuple[contextvars.Context, Callable[..., Any], asyncio.Future[Any]]] = []
        # What a waiting task's own wake-up is given instead of this future (issue 20, eleventh
        # round): a plain asyncio future already done. asyncio's C task reads the result of an
        # exact Future directly but calls ``result()`` by name on any other (a method looked up
        # from a new string, ~1.5k instructions a waiter), and either way only resumes the task's
        # coroutine, whose ``await`` then reads this future itself: its result, or the commit's
        # StorageError raised there.
        ok: asyncio.Future[None] = asyncio.Future(loop=loop)
        self._ok = ok
        ok.set_result(None)

    def cancel(self, msg: Any = None) -> bool:
        return False

    def add_done_callback(
        self, fn: Callable[..., Any], *, context: contextvars.Context | None = None
    ) -> None:
        if fn.__class__ is _BUILTIN_METHOD and context is not None and fn.__name__ == "task_wakeup":
            # A C task's wake-up, from the task's step: asyncio adds it (with the task's context)
            # right after the task's ``await`` found this future pending, so no done() check.
            self._woken.append((context, fn, self._ok))
            return
        if context is None:
            context = contextvars.copy_context()
        if self.done():
            self.get_loop().call_soon(fn, self, context=context)
        else:
            self._woken.append((context, fn, self))

    def remove_done_callback(self, fn: Callable[..., Any]) -> int:
        kept = [w for w in self._woken if w[1] != fn]
        removed = len(self._woken) - len(kept)
        self._woken = kept
        return removed + super().remove_done_callback(fn)

    def set_result(self, result: Any) -> None:
        super().set_result(result)
        self.get_loop().call_soon(self._wake)

    def set_exception(self, exception: Any) -> None:
        super().set_exception(exception)
        self.get_loop().call_soon(self._wake)

    def _wake(self) -> None:
        woken = iter(self._woken)
        self._woken = []
        while True:
            try:  # every waiter's fn(self) in its context, in the order they came, looped in C
                collections.deque(itertools.starmap(contextvars.Context.run, woken), 0)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as e:  # what a Handle does with a failing callback; then the rest
                self.get_loop().call_exception_handler(
                    {"message": "Exception in a group commit's callback", "exception": e, "future": self}
                )


class RunJournal:
    """One run's writes, group-committed on that run's event loop.

    Every statement queued in one event-loop iteration is committed in one transaction. Each run has
    its own batch, so runs on different loops (threads) of one process never resolve each other's
    waiters from the wrong thread; their commits share the process's connection under its lock.
    """

    def __init__(self, journal: Journal, redo_log: bool = False) -> None:
        self.journal = journal
        self.path = journal.display  # for messages: a URL's password is left out
        self._pending: list[tuple[str, Sequence[Any]]] = []
        # Action rows are keyed by (run, action_id): a later row for the same action replaces an
        # earlier one still waiting in the same group commit (a RUNNING row superseded by its result).
        # A row is a whole one (19 columns), a PendingStart, or a done row (DONE_LEN values).
        self._pending_actions: dict[tuple[Any, Any], Sequence[Any]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        # The one future every statement of the group path waits on until the next group commit
        # (in ``_waiters`` too): a fan-out of 10k children makes one future, not 10k (issue 20).
        self._group: asyncio.Future[None] | None = None
        # The statements the waiters wait on, when each came through the group path of ``_durable``
        # (one per waiter): a small group of them may go to the redo log instead of a commit.
        self._waited: list[tuple[str, Sequence[Any]]] = []
        self._scheduled = False
        self._handle: asyncio.Handle | None = None  # the scheduled group commit
        self._inline = 0  # commits made at once in a row (see _durable)
        self._redo = redo.RedoLog(journal.path, REDO_STATEMENTS) if redo_log and journal.redo else None
        self._later: asyncio.TimerHandle | None = None  # a commit deferred while the redo log holds it
        self._fence: RunFence | None = None  # the run's lease (issue 25): set by the run's driver
        self._done: asyncio.Future[None] | None = None  # a resolved future (see _durable)
        self._done_loop: asyncio.AbstractEventLoop | None = None

    @property
    def fence(self) -> RunFence | None:
        return self._fence

    @fence.setter
    def fence(self, fence: RunFence | None) -> None:
        self._fence = fence
        if fence is not None and self._redo is not None:
            self._redo.owner = (fence.run, fence.owner)

    def _commit(self, pending: list[tuple[str, Sequence[Any]]]) -> None:
        fence = self.fence
        if fence is None:
            self.journal.commit(pending)
        elif pending:
            self.journal.commit(pending, fence)

    def write(self, sql: str, params: Sequence[Any]) -> None:
        """Queue a statement for the next group commit (no wait). Call on the run's loop."""
        if sql is UPSERT_ACTION or sql is UPSERT_ACTION_DONE:
            self._pending_actions[(params[0], params[1])] = params
        else:
            self._pending.append((sql, params))
        if not self._scheduled:
            self._scheduled = True
            self._handle = asyncio.get_running_loop().call_soon(self._flush_soon)

    def _durable(
        self, loop: asyncio.AbstractEventLoop, sql: str, params: Sequence[Any], alone: bool = False
    ) -> asyncio.Future[None]:
        """Queue a statement; the future resolves once it is durable (a plain future, not a
        coroutine: awaiting it costs no extra frame on the hot path). ``loop`` is the running loop:
        a caller that knows it saves asyncio.get_running_loop()'s getpid (issue 20). ``alone``: the
        caller's action is the only one in flight (see ``_idle``)."""
        ready = getattr(loop, "_ready", None)  # asyncio's run queue (other loops: always the group path)
        # not alone on the loop: something else is ready to run (or not an asyncio loop)
        if ready is None or (ready and (len(ready) != 1 or ready[0] is not self._handle)):
            self._inline = 0
            if len(self._waited) <= REDO_GROUP:  # a bigger group commits (_log_waited): kept no further
                self._waited.append((sql, params))
            if sql is UPSERT_ACTION_DONE or sql is UPSERT_ACTION:  # write()'s, one call less per child
                self._pending_actions[(params[0], params[1])] = params
                if not self._scheduled:
                    self._scheduled = True
                    self._handle = loop.call_soon(self._flush_soon)
            else:
                self.write(sql, params)
            fut = self._group
            if fut is None:
                fut = self._group = _GroupFuture(loop=loop)
                self._waiters.append(fut)
            return fut
        # Nothing else is ready to run on this loop but our own group commit (a sequential chain):
        # that commit would hold just this write one loop turn later, so it is made durable now
        # (issue 20). Every INLINE_RUN-th step still takes the loop turn, so timers and I/O
        # (timeouts, cancellation, worker sockets) are served during a long chain.
        if sql is UPSERT_ACTION_DONE or sql is UPSERT_ACTION:
            self._pending_actions[(params[0], params[1])] = params
        else:
            self._pending.append((sql, params))
        turn = self._inline >= INLINE_RUN
        self._inline = 0 if turn else self._inline + 1
        rl = self._redo
        fence = self._fence
        if (
            rl is not None
            and not self._pending
            # past the lease's trust window a step commits, so the lease is checked (issue 25)
            and (fence is None or (fence.error is None and time.time() < fence.trusted_until))
            and rl.append(sql, params)
        ):
            # Durable in the run's redo log (one write, survives a killed process): the row stays
            # queued for a later SQLite commit (``_flush_soon``). Only when nothing else is queued
            # (a cache entry must be in SQLite for the next lookup).
            if turn:
                fut = loop.create_future()
                loop.call_soon(_resolve, fut)
            else:  # already durable: awaiting a done future returns at once (no new one per step)
                done = self._done
                if done is None or self._done_loop is not loop:
                    done = self._done = loop.create_future()
                    done.set_result(None)
                    self._done_loop = loop
                fut = done
            if not self._scheduled and not (alone and self._idle(loop)):
                self._scheduled = True
                self._handle = loop.call_soon(self._flush_soon)
            return fut
        fut = loop.create_future()
        self._waiters.append(fut)
        if turn:  # the group commit scheduled for the next loop turn resolves it
            if not self._scheduled:
                self._scheduled = True
                self._handle = loop.call_soon(self._flush_soon)
            return fut
        self._commit_pending()  # resolves ``fut`` (or fails it with the StorageError) now
        return fut

    def _idle(self, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """A group commit scheduled now would only arm the batch timer: nobody waits and the redo
        log's batch has room (``_flush_soon`` would see just that, arm ``_later`` if it is not armed,
        and return). The timer is armed here instead (it commits what is queued within REDO_DELAY)
        and True is returned: the caller schedules no loop turn. Asked only for the one action in
        flight (a sequential chain's step in a worker process, whose every step would otherwise pay
        a loop turn for it, issue 20); with several in flight (a fan-out) the turn is kept: it is
        where their group commits are made."""
        rl = self._redo
        if rl is None or self._waiters or rl.seq - rl.applied >= REDO_BATCH:
            return False
        if self._later is None:  # (once per REDO_DELAY: the getpid of get_running_loop is paid rarely)
            self._later = (loop or asyncio.get_running_loop()).call_later(REDO_DELAY, self._flush_later)
        return True

    def _flush_soon(self) -> None:
        self._scheduled = False
        self._handle = None
        rl = self._redo
        if (
            rl is not None
            and rl.seq - rl.applied < REDO_BATCH
            and (not self._waiters or self._log_waited(rl))
        ):
            # Every result waited on is durable in the redo log and nobody waits on the rest: one
            # SQLite commit for many steps (a commit writes each b-tree page it touches, and random
            # action IDs touch one page per row), at most REDO_DELAY later.
            if self._later is None:
                self._later = asyncio.get_running_loop().call_later(REDO_DELAY, self._flush_later)
            return
        self._commit_pending()

    def _log_waited(self, rl: redo.RedoLog) -> bool:
        """Make a small group of waited-on rows durable in the redo log (one ``write``) and release
        their waiters; False when they must be committed instead.

        Results that come back a few at a time (from worker processes, issue 20) would otherwise
        cost a SQLite commit per loop turn. A big group (an inline fan-out) commits: there one
        commit is cheaper than a log record per row. Rows nobody waits on (start rows) are not
        logged: they were never durable before their commit (see ``action_started``)."""
        waited, waiters = self._waited, self._waiters
        fence = self._fence
        if (
            self._pending  # a cache entry or another statement: it must be in SQLite (next lookup)
            or len(waiters) != 1  # a waiter whose statement is not in ``waited`` (or none is)
            or waiters[0] is not self._group
            or len(waited) > REDO_GROUP
            or (fence is not None and (fence.error is not None or time.time() >= fence.trusted_until))
            or not rl.append_many(waited)
        ):
            return False
        self._waited, self._waiters, self._group = [], [], None
        for w in waiters:
            if not w.done():
                w.set_result(None)
        return True

    def _flush_later(self) -> None:
        self._later = None
        self._commit_pending()

    def _redo_mark(self, pending: list[tuple[str, Sequence[Any]]]) -> int:
        """Add the redo log's mark to a commit holding its records; the sequence number it marks."""
        rl = self._redo
        if rl is None or rl.seq == rl.applied:
            return 0
        pending.append((REDO_SET_MARK, (rl.mark, str(rl.seq))))
        return rl.seq

    def _commit_pending(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None
        pending, waiters = self._take()
        seq = self._redo_mark(pending)
        try:
            self._commit(pending)
            if seq:
                self._redo.committed(seq)  # type: ignore[union-attr]
        except Exception as e:
            err: Exception = e
            if isinstance(e, RunOwnershipLostError):
                self._discard_redo()  # the run is another driver's now: these steps are void
            else:
                if seq:  # rows already acknowledged from the redo log: queued again for the next commit
                    self._requeue(pending[:-1])
                err = StorageError(f"could not write the journal at {self.path}: {e}")
            for w in waiters:
                if not w.done():
                    w.set_exception(err)
            return
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def _requeue(self, statements: list[tuple[str, Sequence[Any]]]) -> None:
        """Put back statements a failed commit took (a row queued since then stays the newer)."""
        rows = (UPSERT_ACTION, UPSERT_ACTION_DONE)
        actions = {(p[0], p[1]): p for sql, p in statements if sql in rows}
        actions.update(self._pending_actions)
        self._pending_actions = actions
        self._pending[:0] = [(sql, p) for sql, p in statements if sql not in rows]

    def _take(self) -> tuple[list[tuple[str, Sequence[Any]]], list[asyncio.Future[None]]]:
        rows: Collection[Sequence[Any]] = self._pending_actions.values()
        # Each row with its statement: a start row still to build (PendingStart, usually a parent's
        # own while its children's results come in) built here, the others by their length (see
        # DONE_LEN). Every pass over the rows runs in C (map, compress, zip): a fan-out's commit
        # holds one parent's start row and thousands of done rows (issue 20, eleventh round).
        starts = list(map(isinstance, rows, _REPEAT_START))
        if True in starts:  # built in place (the loop visits the start rows alone)
            rows = list(rows)
            for i in itertools.compress(range(len(rows)), starts):
                rows[i] = rows[i].running()  # type: ignore[attr-defined]
        lengths = list(map(len, rows))
        if DONE_LEN not in lengths:
            actions = list(zip(_REPEAT_WHOLE, rows))
        elif lengths.count(DONE_LEN) == len(lengths):
            actions = list(zip(_REPEAT_DONE, rows))
        else:  # both: rows of different actions commute (one row per action here), so done rows last
            done = list(map(DONE_LEN.__eq__, lengths))
            actions = list(zip(_REPEAT_WHOLE, itertools.compress(rows, map(operator.not_, done))))
            actions += zip(_REPEAT_DONE, itertools.compress(rows, done))
        if not actions:
            pending = self._pending
        elif self._pending:
            pending = actions + self._pending
        else:
            pending = actions
        waiters = self._waiters
        self._pending, self._waiters, self._pending_actions, self._waited = [], [], {}, []
        self._group = None
        return pending, waiters

    def flush(self) -> None:
        """Commit whatever is queued now (used when a run ends, or from sync code on the loop)."""
        if self._later is not None:
            self._later.cancel()
            self._later = None
        pending, waiters = self._take()
        seq = self._redo_mark(pending)
        try:
            self._commit(pending)
        except RunOwnershipLostError:
            self._discard_redo()
            raise
        except BaseException:
            if seq:
                self._requeue(pending[:-1])
            raise
        if seq:
            self._redo.committed(seq)  # type: ignore[union-attr]
        for w in waiters:
            if not w.done():
                w.get_loop().call_soon_threadsafe(_resolve, w)

    def _discard_redo(self) -> None:
        """The run was taken over (issue 25): what its redo log holds was never committed and the
        new owner runs those steps itself, so the log goes without being applied."""
        rl = self._redo
        self._redo = None
        if rl is not None and rl.close():
            try:
                self.journal.execute(REDO_DEL_MARK, (rl.mark,))
            except Exception:  # the mark of a removed log is harmless; a replay ignores it
                pass

    def close(self) -> None:
        """The run is over: commit what is queued and remove its redo log (and the log's mark)."""
        self.flush()
        rl = self._redo
        if rl is not None and rl.close():
            self.journal.execute(REDO_DEL_MARK, (rl.mark,))

    # ---- the semantic API: what the controller (and a remote body, by request) records ------------
    def action_started(self, row: ActionRow) -> None:
        """An action (or a retry of it) is running: queued, not waited for."""
        self._pending_actions[(row[0], row[1])] = row
        if not self._scheduled:
            self._scheduled = True
            self._handle = asyncio.get_running_loop().call_soon(self._flush_soon)

    action_ended = action_started
    """An action ended and nobody waits on its record (an abort, a trace written from sync code)."""

    def action_running(self, run: str, action_id: str, start: PendingStart, alone: bool = False) -> None:
        """``action_started`` with the row built only if it is still queued at the next commit: a
        child that ends within the same loop turn (an inline fan-out) replaces it unbuilt (issue 20).
        ``alone``: the only action in flight; its start row waits for the batch timer's commit,
        without a loop turn of its own, where that turn would only arm the timer (``_idle``)."""
        self._pending_actions[(run, action_id)] = start  # type: ignore[assignment]
        if not self._scheduled and not (alone and self._idle()):
            self._scheduled = True
            self._handle = asyncio.get_running_loop().call_soon(self._flush_soon)

    def action_finished(
        self,
        row: ActionRow,
        cache: CacheEntry | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        alone: bool = False,
    ) -> Awaitable[None]:
        """An action's result (and its cache entry); await it: it resolves once committed, so the
        parent sees a value only after the record of it is durable. ``loop``: the running loop, when
        the caller knows it (no getpid on 3.11); ``alone``: see ``_durable``."""
        if cache is not None:
            self._pending.append((PUT_CACHE, cache))
        return self._durable(loop or asyncio.get_running_loop(), UPSERT_ACTION, row, alone)

    def attempt_finished(self, row: AttemptRow) -> None:
        """One failed or aborted try of an action (its error stays in the record)."""
        self.write(INSERT_ATTEMPT, row)

    def connector_created(self, run: str, action_id: str, meta: str) -> Awaitable[None]:
        """A connector's remote job exists: its handle, durably (await it), so a recovery
        re-attaches to it."""
        return self._durable(asyncio.get_running_loop(), SET_META, (meta, run, action_id))

    def record_spec(self, identity: str, task_name: str, spec: str) -> None:
        """A task's spec (JSON), once per code identity."""
        self.write(PUT_SPEC, (identity, task_name, spec))

    def cache_get(self, key: str, max_age: float | None = None) -> bytes | None:
        return self.journal.cache_lookup(key, max_age)

    def subtree(self, run: str, action_id: str) -> list[ActionRow]:
        return self.journal.subtree(run, action_id)

    # ---- issue 23: actions adopted from a crashed driver's workers ------------------------------------
    def action_adopted(self, run: str, action_id: str, how: str) -> None:
        """A recovery used (or awaited) the worker of a crashed driver instead of running the action
        again: noted in the action's meta (kept by later writes), shown as "adopted after recovery"."""
        import json

        note = json.dumps({"adopted": "adopted after recovery", "how": how})
        self.write(SET_META, (note, run, action_id))


_REPEAT_START = itertools.repeat(PendingStart)
_REPEAT_WHOLE = itertools.repeat(UPSERT_ACTION)
_REPEAT_DONE = itertools.repeat(UPSERT_ACTION_DONE)


def _resolve(w: asyncio.Future[None]) -> None:
    if not w.done():
        w.set_result(None)


_journals: dict[str, Journal] = {}
_journals_lock = threading.Lock()


def _use_wal(conn: sqlite3.Connection, wait: float = 60.0) -> None:
    """Switch a SQLite journal to WAL. The switch takes the file's exclusive lock and SQLite answers
    "database is locked" at once, without its busy handler, while another process holds it (two
    processes opening a journal in rollback mode together): wait for it, as the busy timeout would."""
    end = time.monotonic() + wait
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > end:
                raise
            time.sleep(0.005)


def open_journal(path: str) -> Journal:
    """The process's journal for a path (SQLite connections are costly to open per run)."""
    if not path.startswith(("postgresql://", "postgres://")):
        path = os.path.abspath(path)
    with _journals_lock:
        j = _journals.get(path)
        if j is None:
            j = Journal(path)
            if not _journals:
                import atexit

                atexit.register(close_journals, pg_only=True)
            _journals[path] = j
    j.replay_redo()  # a dead writer's sequential steps, before anyone reads the runs
    return j


def close_journals(pg_only: bool = False) -> None:
    """Close the journals this process opened (a PostgreSQL journal's pooled sessions with them);
    at the process's exit, the PostgreSQL ones (a SQLite file needs no goodbye). A later
    ``open_journal`` opens afresh."""
    with _journals_lock:
        opened = [j for j in _journals.values() if j.pg or not pg_only]
        for j in opened:
            _journals.pop(j.path, None)
    for j in opened:
        try:
            j.close()
        except Exception:  # closing at exit: nothing left to report to
            pass


# ---- run record export: which actions each commit touched (``records.py`` writes the rows) ---------
_TOUCHED = {UPSERT_ACTION: 1, UPSERT_ACTION_DONE: 1, INSERT_ATTEMPT: 1, SET_META: 2}
"""Statement -> index of the action ID in its parameters."""


class RecordingRunJournal(RunJournal):
    """A run's journal writer that also notes the actions each commit touched (for record export)."""

    def __init__(self, journal: Journal, redo_log: bool = False) -> None:
        super().__init__(journal, redo_log)
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


def __getattr__(name: str) -> Any:
    """Run-record names that moved to ``records.py`` (the export/import side of the journal)."""
    if name in _RECORD_NAMES:
        from flyte._runtime import records

        return getattr(records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_RECORD_NAMES = frozenset(
    {
        "RECORD_DIR",
        "RECORD_MANIFEST",
        "RECORD_FORMAT",
        "MAX_SEGMENTS",
        "RecordWriter",
        "read_record",
        "import_record",
        "record_rows",
    }
)


# ---- a read-only view (``flyte ui``): its own connection per request, rows keyed by column name ----
VIEW_RUN_COLUMNS = (
    "rowid, name, task_name, status, created_at, started_at, ended_at, host, user, pid, store_prefix, error"
)


def _count(status: str) -> str:
    """Rows of one status (``SUM(status = 'X')`` is SQLite's only: PostgreSQL cannot sum booleans)."""
    return f"SUM(CASE WHEN status = '{status}' THEN 1 ELSE 0 END)"


_COUNT_RUNNING = _count("RUNNING")
VIEW_ACTION_COLUMNS = (
    "action_id, parent_id, position, kind, task_name, task_type, status, attempts, cache_hit, started_at,"
    " ended_at, error, group_name, mode"
)


class JournalView:
    """Read-only queries the viewer makes on one open connection (``sqlite3.Row`` rows, by name).

    The viewer opens the journal file read-only (``mode=ro``, ``query_only``) on each request, so it
    never takes the writer's lock; this class is the SQL it may run there.
    """

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: str) -> JournalView:
        """A view on its own read-only connection to the journal at ``path`` (close ``view.conn``):
        a SQLite file, or a ``postgresql://`` URL (a session where writes are refused)."""
        from urllib.parse import quote

        if path.startswith(("postgresql://", "postgres://")):
            from flyte._runtime.journal_backend import PgConnection, read_only, redact

            pg = PgConnection(read_only(path), max_size=2)
            try:
                cls._check_version(pg, redact(path))
            except BaseException:
                pg.close()
                raise
            return cls(pg)  # type: ignore[arg-type]

        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=10, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=10000")
        except BaseException:
            conn.close()
            raise
        return cls(conn)

    @staticmethod
    def _check_version(conn: Any, display: str) -> None:
        """The viewer reads a PostgreSQL journal only at this flyte's layout: it never writes, so
        it cannot upgrade an older one (whose layout lacks what its queries use) itself."""
        if not Journal._has_table(conn, "journal_info"):
            return
        found = read_version(conn)
        if found is None or found == SCHEMA_VERSION:
            return
        if found > SCHEMA_VERSION:
            raise refuse_newer(found, display)
        if not any(m.postgresql for m in MIGRATIONS[found - 1 :]):
            return  # the steps since then change nothing on PostgreSQL (2 -> 3 is SQLite's only)
        raise StorageError(
            f"the journal at {display} has schema version {found}, older than this flyte's"
            f" ({SCHEMA_VERSION}); the viewer only reads, so it does not upgrade it. Any flyte command"
            f" that opens it for writing upgrades it in place, once (e.g. `FLYTE_JOURNAL=... flyte runs"
            " list`, or the next run recorded there); then reload."
        )

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()

    # -- runs --------------------------------------------------------------------------------------
    def has_segments(self) -> bool:
        """False for a journal written before execution segments were recorded."""
        return self._one("SELECT 1 FROM sqlite_master WHERE type='table' AND name='segments'") is not None

    def segment_spans(self, run: str) -> list[tuple[float | None, float | None]]:
        rows = self.conn.execute("SELECT started_at, ended_at FROM segments WHERE run=? ORDER BY n", (run,))
        return [(r[0], r[1]) for r in rows]

    def last_write(self, run: str) -> float | None:
        row = self._one(LAST_WRITE_SQL, (run,))
        return None if row is None or row[0] is None else float(row[0])

    def runs_page(
        self, status: str | None, task: str | None, before: int | None, after: int | None, limit: int
    ) -> tuple[list[sqlite3.Row], int, bool, bool]:
        """(runs, total matching, newer exist, older exist): a page of runs by insertion (rowid),
        newest first; ``before``/``after`` are rowid cursors, ``task`` a substring of the task name."""
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("status = ?")
            params.append(status)
        if task:
            where.append("instr(task_name, ?) > 0")
            params.append(task)
        base = " AND ".join(where)
        page_where, page_params = list(where), list(params)
        if after is not None:
            page_where.append("rowid > ?")
            page_params.append(int(after))
            order = "ASC"
        else:
            if before is not None:
                page_where.append("rowid < ?")
                page_params.append(int(before))
            order = "DESC"
        w = f"WHERE {' AND '.join(page_where)}" if page_where else ""
        rows = self.conn.execute(
            f"SELECT {VIEW_RUN_COLUMNS} FROM runs {w} ORDER BY rowid {order} LIMIT ?", (*page_params, limit)
        ).fetchall()
        if order == "ASC":
            rows.reverse()
        total = self._one(f"SELECT COUNT(*) FROM runs {'WHERE ' + base if base else ''}", params)[0]
        has_newer = has_older = False
        if rows:
            extra = f" AND {base}" if base else ""
            newer = f"SELECT 1 FROM runs WHERE rowid > ?{extra} LIMIT 1"
            older = f"SELECT 1 FROM runs WHERE rowid < ?{extra} LIMIT 1"
            has_newer = self._one(newer, (rows[0]["rowid"], *params)) is not None
            has_older = self._one(older, (rows[-1]["rowid"], *params)) is not None
        return rows, int(total), has_newer, has_older

    def task_names(self, limit: int) -> list[str]:
        sql = "SELECT task_name FROM runs GROUP BY task_name ORDER BY task_name LIMIT ?"
        return [r[0] for r in self.conn.execute(sql, (limit,)) if r[0]]

    def run(self, name: str) -> sqlite3.Row | None:
        """The run's list columns plus ``settings``, ``module_file`` and ``attr``."""
        return self._one(  # type: ignore[no-any-return]
            f"SELECT {VIEW_RUN_COLUMNS}, settings, module_file, attr FROM runs WHERE name = ?", (name,)
        )

    def run_value(self, name: str, inputs: bool) -> tuple[bytes | None, str | None] | None:
        """The run's recorded inputs (or outputs) blob and its store prefix."""
        sql = f"SELECT {'inputs' if inputs else 'outputs'}, store_prefix FROM runs WHERE name = ?"
        r = self._one(sql, (name,))
        return None if r is None else ((None if r[0] is None else bytes(r[0])), r[1])

    def list_state(self) -> tuple[Any, ...]:
        """Changes whenever a run is added or changes status (for polling the list)."""
        return tuple(
            self._one(f"SELECT MAX(rowid), COUNT(*), {_COUNT_RUNNING}, MAX(COALESCE(ended_at, 0)) FROM runs")
        )

    def run_state(self, name: str) -> tuple[str, float | None, tuple[Any, ...]] | None:
        """(status, ended_at, a tuple that changes whenever one of the run's actions changes)."""
        run = self._one("SELECT status, ended_at FROM runs WHERE name = ?", (name,))
        if run is None:
            return None
        a = self._one(
            f"SELECT COUNT(*), {_COUNT_RUNNING}, {_count('SUCCEEDED')}, {_count('FAILED')},"
            " SUM(attempts), MAX(COALESCE(ended_at, 0)) FROM actions WHERE run = ?",
            (name,),
        )
        return run[0], run[1], tuple(a)

    # -- actions -----------------------------------------------------------------------------------
    def run_actions(self, name: str, limit: int) -> tuple[list[sqlite3.Row], int]:
        """The run's actions by start (at most ``limit``) and how many there are in all."""
        rows = self.conn.execute(
            f"SELECT {VIEW_ACTION_COLUMNS} FROM actions WHERE run = ? ORDER BY started_at LIMIT ?",
            (name, limit),
        ).fetchall()
        total = len(rows)
        if total >= limit:
            total = self._one("SELECT COUNT(*) FROM actions WHERE run = ?", (name,))[0]
        return rows, int(total)

    def action_value(self, name: str, action_id: str, inputs: bool) -> tuple[bytes | None, str | None] | None:
        col = "inputs" if inputs else "outputs"
        r = self._one(
            f"SELECT a.{col}, r.store_prefix FROM actions a LEFT JOIN runs r ON r.name = a.run"
            " WHERE a.run = ? AND a.action_id = ?",
            (name, action_id),
        )
        return None if r is None else ((None if r[0] is None else bytes(r[0])), r[1])

    def action(self, run: str, action_id: str) -> sqlite3.Row | None:
        """The action's list columns plus ``inputs``, ``outputs``, ``meta`` and ``task_identity``."""
        return self._one(  # type: ignore[no-any-return]
            f"SELECT {VIEW_ACTION_COLUMNS}, inputs, outputs, meta, task_identity FROM actions"
            " WHERE run = ? AND action_id = ?",
            (run, action_id),
        )

    def attempts(self, run: str, action_id: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT attempt, status, started_at, ended_at, error FROM attempts"
            " WHERE run = ? AND action_id = ? ORDER BY attempt",
            (run, action_id),
        ).fetchall()

    def children(self, run: str, action_id: str, limit: int, offset: int) -> list[sqlite3.Row]:
        return self.conn.execute(
            f"SELECT {VIEW_ACTION_COLUMNS} FROM actions WHERE run = ? AND parent_id = ?"
            " ORDER BY position LIMIT ? OFFSET ?",
            (run, action_id, limit, offset),
        ).fetchall()

    def child_count(self, run: str, action_id: str) -> int:
        return int(
            self._one("SELECT COUNT(*) FROM actions WHERE run = ? AND parent_id = ?", (run, action_id))[0]
        )

    def cache_source(self, task_name: str, outputs: bytes) -> tuple[str, str] | None:
        """The run and action whose cache entry holds these outputs (where a cache hit came from)."""
        c = self._one(
            "SELECT run, action_id FROM cache WHERE task_name = ? AND outputs = ? LIMIT 1",
            (task_name, outputs),
        )
        return None if c is None else (c[0], c[1])

    def spec(self, identity: str) -> str | None:
        """A task's recorded spec JSON (None in a journal from before specs were recorded)."""
        try:
            row = self._one("SELECT spec FROM specs WHERE identity = ?", (identity,))
        except sqlite3.OperationalError:
            return None
        return None if row is None else row[0]


# ---- issue 18.12: the values of the lease methods of Journal ----------------------------------------
@dataclass(frozen=True)
class LeaseOwner:
    """Who computes a cache entry under ``Cache(serialize=True)``: the action's run, ID and attempt,
    in a process on a host (the ID says all of it, so a history row names the owner alone)."""

    run: str
    action_id: str
    attempt: int
    pid: int
    host: str

    @property
    def id(self) -> str:
        return f"{self.run}/{self.action_id}/{self.attempt}/{self.pid}@{self.host}"


def _owner_parts(owner_id: str) -> tuple[str | None, str | None, str]:
    """(run, action ID, owner ID) of an owner ID (for history rows)."""
    parts = owner_id.split("/")
    return (parts[0], parts[1], owner_id) if len(parts) >= 4 else (None, None, owner_id)


@dataclass(frozen=True)
class RunLease:
    """A ``run_leases`` row: the driver that owns a running run, until ``expires_at``."""

    run: str
    owner: str
    host: str | None
    pid: int | None
    acquired_at: float
    renewed_at: float
    expires_at: float
    ttl: float


@dataclass(frozen=True)
class LeaseHolder:
    """A ``cache_leases`` row."""

    key: str
    owner: str
    run: str | None
    action_id: str | None
    attempt: int | None
    pid: int | None
    host: str | None
    acquired_at: float
    expires_at: float
    ttl: float


@dataclass(frozen=True)
class LeaseAttempt:
    """The answer of :meth:`Journal.lease_try_acquire`: "hit", "held" or "acquired"."""

    outcome: str
    outputs: bytes | None = None
    source_run: str | None = None
    source_action: str | None = None
    holder: LeaseHolder | None = None  # the live holder ("held"), or the one taken over ("acquired")
    reason: str | None = None  # why a takeover was allowed
