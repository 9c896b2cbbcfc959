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
