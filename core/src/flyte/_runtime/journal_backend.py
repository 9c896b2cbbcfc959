"""Where the journal lives: a SQLite file (the default) or a PostgreSQL database (issue 25).

``journal.py`` writes its statements once, in SQLite's dialect, against a DB-API connection. For a
``postgresql://`` journal, :class:`PgConnection` is that connection: it rewrites each statement to
PostgreSQL's dialect once (cached by statement), so every ``Journal`` method runs unchanged on both:

- ``?`` / ``?N`` placeholders become ``%s`` (a numbered one repeats its parameter);
- ``INSERT OR IGNORE`` / ``INSERT OR REPLACE`` become ``ON CONFLICT DO NOTHING`` / ``DO UPDATE``;
- ``BEGIN IMMEDIATE`` (SQLite's one-writer transaction) becomes ``BEGIN`` plus a transaction-scoped
  advisory lock, so the check-then-claim transactions (cache leases, trigger fires) stay exclusive
  across processes and hosts;
- tables: ``BLOB`` -> ``bytea``, ``REAL`` -> ``double precision``, ``INTEGER`` -> ``bigint``, no
  ``WITHOUT ROWID``; the ``user`` column is quoted (a reserved word there).

psycopg and psycopg_pool (``pip install 'flyte-core[postgres]'``) are imported only when such a journal
is opened. The sessions come from a small ``psycopg_pool.ConnectionPool``; the pool is closed with
the journal (``Journal.close``, and at the process's exit for the journals it opened).
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flyte.errors import InvalidParameterError

PG_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite://"
ACCEPTED = (
    "a file path (SQLite, the default: <FLYTE_HOME>/journal.db), sqlite:///ABS/PATH, "
    "or postgresql://USER[:PASSWORD]@HOST:PORT/DB (needs `pip install 'flyte-core[postgres]'`)"
)
JOURNAL_ENV = "FLYTE_JOURNAL"
ADVISORY_KEY = 0x666C797465  # "flyte": the key of the journal's one-writer advisory lock
RUN_LOCK_NS = 0x666C7974  # "flyt": first key of a run's session lock (the second: run_key)
POOL_MAX = 4
"""Sessions one process opens at most: the writer's, the run lease heartbeats', a reader's, a spare."""
IDLE_IN_TRANSACTION = 15.0
"""Seconds a session may sit inside a transaction without a statement before the server ends it
(the journal's transactions are tight loops: only a frozen driver idles there)."""
POOL_TIMEOUT = 30.0
"""Seconds to wait for a session of the pool (the server reachable but every session busy)."""


def run_key(run: str) -> int:
    """The second key of a run's advisory lock: a stable 31-bit hash of its name."""
    return zlib.crc32(run.encode()) & 0x7FFFFFFF


def is_postgres(target: str) -> bool:
    return target.startswith(PG_SCHEMES)


def check_journal(value: Any, owner: str, setting: str) -> str:
    """The journal target for ``value`` (``owner``'s ``setting``: flyte.init's ``journal``, the
    config's ``journal``, ``$FLYTE_JOURNAL`` or ``--journal``): a SQLite path or a postgresql:// URL."""
    if not isinstance(value, str):
        from flyte.errors import InvalidParameterTypeError

        raise InvalidParameterTypeError(owner, setting, value, f"Use a string: {ACCEPTED}.")
    if not value.strip():
        raise InvalidParameterError(owner, setting, value, f"Use {ACCEPTED}.")
    return _check_target(value.strip(), owner, setting)


def _check_target(value: str, owner: str, setting: str) -> str:
    if is_postgres(value):
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if not parts.hostname or not parts.path.strip("/"):
            raise InvalidParameterError(
                owner, setting, redact(value), f"Name a host and a database: {ACCEPTED}."
            )
        return value
    if value.startswith(SQLITE_SCHEME):
        path = value[len(SQLITE_SCHEME) :]
        if not path.startswith("/"):
            raise InvalidParameterError(owner, setting, value, f"Use an absolute path: {ACCEPTED}.")
        return path
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        raise InvalidParameterError(
            owner, setting, redact(value), f"Unsupported journal scheme; use {ACCEPTED}."
        )
    return value


def run_url(target: str, run: str) -> str:
    """Where a run is recorded, as shown to users (``file://PATH?run=`` or the URL, no password)."""
    if is_postgres(target):
        return f"{redact(target)}?run={run}"
    return f"file://{target}?run={run}"


def read_only(url: str) -> str:
    """``url`` whose sessions refuse writes (the viewer's), also after a reconnect."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-c%20default_transaction_read_only%3Don"


def redact(target: str) -> str:
    """``target`` without a password, fit for messages and logs."""
    if not is_postgres(target):
        return target
    return re.sub(r"^(\w+://[^:/@]*):[^@/]*@", r"\1:***@", target)


# ---- the dialect: SQLite's statements in PostgreSQL's words --------------------------------------
PRIMARY_KEYS = {
    "runs": ("name",),
    "actions": ("run", "action_id"),
    "segments": ("run", "n"),
    "attempts": ("run", "action_id", "attempt"),
    "cache": ("key",),
    "deployed": ("name", "version"),
    "cache_leases": ("key",),
    "notify_deliveries": ("run", "n", "attempt"),
    "specs": ("identity",),
    "journal_info": ("name",),
    "trigger_fires": ("key", "scheduled_at"),
    "trigger_meta": ("name",),
    "run_leases": ("run",),
    "run_takeovers": ("run", "prior_owner"),
}
"""Conflict targets of the tables written with ``INSERT OR REPLACE``."""
ROWID_TABLES = ("cache_lease_events", "runs")
"""Tables read in insertion order (``ORDER BY rowid``): PostgreSQL gets a ``rowid`` serial column."""

_PLACEHOLDER = re.compile(r"\?(\d*)")
_TABLE_INFO = re.compile(r"^\s*PRAGMA\s+table_info\((\w+)\)\s*$", re.I)
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.I)
_USER = re.compile(r"(?<![\"'.\w])user(?![\"'\w])")
_INSTR = re.compile(r"\binstr\(", re.I)


def translate(sql: str) -> tuple[str, tuple[int, ...] | None]:
    """(PostgreSQL statement, parameter order or None when the parameters go as given)."""
    info = _TABLE_INFO.match(sql)
    if info:  # a table's columns, in order, as rows with a ``name``
        return (
            "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema()"
            f" AND table_name = '{info.group(1)}' ORDER BY ordinal_position"
        ), None
    sql = sql.replace("%", "%%")
    sql = sql.replace(  # does a table exist: SQLite's catalog, PostgreSQL's
        "FROM sqlite_master WHERE type='table' AND name=",
        "FROM information_schema.tables WHERE table_schema = current_schema() AND table_name=",
    )
    order: list[int] = []
    numbered = False

    def place(m: re.Match[str]) -> str:
        nonlocal numbered
        if m.group(1):
            numbered = True
            order.append(int(m.group(1)) - 1)
        else:
            order.append(len(order))
        return "%s"

    sql = _PLACEHOLDER.sub(place, sql)
    m = _INSERT_OR.match(sql)
    if m:
        how, table, cols = m.group(1).upper(), m.group(2), [c.strip() for c in m.group(3).split(",")]
        sql = f"INSERT INTO {table}({m.group(3)})" + sql[m.end() :]
        if how == "IGNORE":
            sql += " ON CONFLICT DO NOTHING"
        else:
            keys = PRIMARY_KEYS[table]
            rest = [c for c in cols if c not in keys]
            sets = ", ".join(f"{c}=EXCLUDED.{c}" for c in rest)
            sql += f" ON CONFLICT ({', '.join(keys)}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
    sql = _USER.sub('"user"', sql)
    sql = _INSTR.sub("strpos(", sql)  # same arguments (text, substring), 1-based, 0 when absent
    return sql, (tuple(order) if numbered else None)


def translate_ddl(stmt: str) -> str:
    """A ``CREATE TABLE`` / ``CREATE INDEX`` of the journal's schema in PostgreSQL's types."""
    stmt = re.sub(r"\)\s*WITHOUT ROWID\s*$", ")", stmt.strip())
    stmt = re.sub(r"\bBLOB\b", "BYTEA", stmt)
    stmt = re.sub(r"\bREAL\b", "DOUBLE PRECISION", stmt)
    stmt = re.sub(r"\bINTEGER\b", "BIGINT", stmt)
    stmt = _USER.sub('"user"', stmt)
    m = re.match(r"CREATE TABLE IF NOT EXISTS (\w+)\(", stmt)
    if m and m.group(1) in ROWID_TABLES:
        stmt = stmt[: stmt.rfind(")")].rstrip() + ",\n  rowid BIGSERIAL\n)"
    return stmt


# ---- a DB-API connection over psycopg that speaks the journal's SQLite dialect -------------------
class Row(tuple):  # type: ignore[type-arg]
    """A result row by position and by column name (what ``sqlite3.Row`` gives the journal)."""

    __slots__ = ()
    _names: tuple[str, ...] = ()
    _index: dict[str, int] = {}

    def keys(self) -> tuple[str, ...]:
        return self._names

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)


def _row_factory(cursor: Any) -> Any:
    names = tuple(c.name for c in (cursor.description or ()))
    cls = type(
        "Row", (Row,), {"__slots__": (), "_names": names, "_index": {n: i for i, n in enumerate(names)}}
    )
    return cls


class _Cursor:
    """The cursor answers of one statement (``row_factory`` is fixed: :class:`Row`)."""

    __slots__ = ("_cur",)

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    row_factory = property(lambda self: Row, lambda self, value: None)

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall()) if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """The subset of ``sqlite3.Connection`` the journal uses, over a psycopg connection pool.

    Autocommit, as the SQLite connection (``isolation_level=None``): a statement alone is its own
    transaction; ``BEGIN``/``COMMIT`` group several. The journal's own statements (its writes and the
    reads under its lock) use one pinned session, so a ``BEGIN``...``COMMIT`` spanning calls stays on
    one session; callers serialize that with the journal's lock. :meth:`side` runs one statement on
    another session of the pool without that lock: the run lease's heartbeat, which must not wait
    behind a long write transaction. The pool is small (``max_size``): the driver's threads that
    touch the journal are its writer, the lease heartbeats and a reader."""

    def __init__(self, url: str, max_size: int = POOL_MAX) -> None:
        try:
            import psycopg
            import psycopg_pool
        except ImportError as e:
            raise InvalidParameterError(
                "journal",
                "journal",
                redact(url),
                "A PostgreSQL journal needs psycopg and psycopg-pool: pip install 'flyte-core[postgres]'.",
            ) from e
        from psycopg.adapt import Dumper

        class BoolAsInt(Dumper):  # the journal's flags are INTEGER columns, as in SQLite
            oid = psycopg.postgres.types["int8"].oid

            def dump(self, obj: Any) -> bytes:
                return b"1" if obj else b"0"

        self.url = url
        self._psycopg = psycopg
        self._dumper = BoolAsInt
        self.integrity_errors: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)
        self._sql: dict[str, tuple[str, tuple[int, ...] | None]] = {}
        self._lock = threading.RLock()
        # One direct session first: an unreachable or refusing server is reported at once, with the
        # server's reason (the pool would retry in the background until its timeout).
        self._connect().close()
        self.pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": _row_factory},
            configure=self._configure,
            check=psycopg_pool.ConnectionPool.check_connection,
            num_workers=1,
            name="flyte-journal",
            open=False,
        )
        self._pool_timeout = psycopg_pool.PoolTimeout
        self.generation = 0
        try:
            self.pool.open(wait=True, timeout=POOL_TIMEOUT)
            self.conn = self._getconn()
        except BaseException:
            self.pool.close()
            raise

    def _configure(self, conn: Any) -> None:
        conn.adapters.register_dumper(bool, self._dumper)
        # A driver frozen inside a transaction (SIGSTOP, a VM pause) must not hold its locks for
        # ever: the server ends such a session, so the driver that takes the run over can write.
        conn.execute(f"SET idle_in_transaction_session_timeout = {int(IDLE_IN_TRANSACTION * 1000)}")

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            conn = psycopg.connect(self.url, autocommit=True, row_factory=_row_factory)
        except psycopg.OperationalError as e:
            from flyte.errors import StorageError

            raise StorageError(f"could not connect to the journal at {redact(self.url)}: {e}") from None
        return conn

    def _getconn(self) -> Any:
        """A session from the pool (a checked one: one the server dropped is replaced)."""
        try:
            return self.pool.getconn(timeout=POOL_TIMEOUT)
        except self._pool_timeout as e:
            from flyte.errors import StorageError

            raise StorageError(f"could not connect to the journal at {redact(self.url)}: {e}") from None

    def _renew(self) -> None:
        """Replace the pinned session after the server dropped it (a restart, an idle timeout, a
        driver that took a run over): the statement that met the broken session failed; the next
        one gets a new session (a new ``generation``: the run locks of the old one are gone)."""
        self.pool.putconn(self.conn)  # the pool discards a broken session
        self.conn = self._getconn()
        self.generation += 1

    @property
    def session_ok(self) -> bool:
        return not self.conn.broken

    # A run's driver holds a session-level shared advisory lock on its run (key: RUN_LOCK_NS and a
    # hash of the run's name) on its writing session. A driver taking the run over ends the sessions
    # holding it: a frozen driver's late writes then meet a dead session, and its next commit sees a
    # new session generation and checks the lease first (see Journal.commit).
    def hold_run(self, run: str) -> None:
        self.execute("SELECT pg_advisory_lock_shared(?, ?)", (RUN_LOCK_NS, run_key(run)))

    def unhold_run(self, run: str) -> None:
        self.execute("SELECT pg_advisory_unlock_shared(?, ?)", (RUN_LOCK_NS, run_key(run)))

    def evict_run(self, run: str) -> None:
        """End the other sessions holding ``run``'s lock (its previous driver's). Only sessions of
        this role: ending another role's needs a privilege (``pg_signal_backend``) drivers lack;
        drivers sharing a journal normally share its role."""
        self.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype='advisory' AND l.classid=? AND l.objid=? AND l.objsubid=2"
            " AND l.pid<>pg_backend_pid() AND a.usename = current_user",
            (RUN_LOCK_NS, run_key(run)),
        ).fetchall()

    def _translated(self, sql: str) -> tuple[str, tuple[int, ...] | None]:
        got = self._sql.get(sql)
        if got is None:
            got = self._sql[sql] = translate(sql)
        return got

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        word = sql.strip().upper() if len(sql) < 24 else ""  # BEGIN IMMEDIATE, COMMIT...
        with self._lock:
            if self.conn.broken:
                if word == "ROLLBACK":  # the transaction died with the session
                    return _Cursor(self.conn.cursor())
                self._renew()
            if word == "BEGIN IMMEDIATE":
                self.conn.execute("BEGIN")
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))
                return _Cursor(self.conn.cursor())
            if word in ("BEGIN", "COMMIT", "ROLLBACK"):
                return _Cursor(self.conn.execute(word))
            text, order = self._translated(sql)
            args = params if order is None else [params[i] for i in order]
            return _Cursor(self.conn.execute(text, args))  # type: ignore[arg-type]

    def side(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, list[Any]]:
        """(rowcount, rows) of one statement, in its own transaction on another pooled session."""
        text, order = self._translated(sql)
        args = params if order is None else [params[i] for i in order]
        try:
            with self.pool.connection(timeout=POOL_TIMEOUT) as conn:
                cur = conn.execute(text, args)
                return int(cur.rowcount), (list(cur.fetchall()) if cur.description else [])
        except self._pool_timeout as e:
            from flyte.errors import StorageError

            raise StorageError(f"could not connect to the journal at {redact(self.url)}: {e}") from None

    @contextmanager
    def side_transaction(self) -> Iterator[Callable[[str, Sequence[Any]], _Cursor]]:
        """A writer transaction (``BEGIN IMMEDIATE``'s advisory lock) on another pooled session,
        outside the journal's lock: the cache leases' heartbeat. Yields ``run(sql, params)``;
        commits at the end, rolls back on an error."""
        try:
            with self.pool.connection(timeout=POOL_TIMEOUT) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))

                def run(sql: str, params: Sequence[Any] = ()) -> _Cursor:
                    text, order = self._translated(sql)
                    args = params if order is None else [params[i] for i in order]
                    return _Cursor(conn.execute(text, args))

                yield run
        except self._pool_timeout as e:
            from flyte.errors import StorageError

            raise StorageError(f"could not connect to the journal at {redact(self.url)}: {e}") from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        text, order = self._translated(sql)
        args = [[r[i] for i in order] for r in rows] if order is not None else list(rows)
        with self._lock:
            if self.conn.broken:
                self._renew()
            with self.conn.cursor() as cur:
                cur.executemany(text, args)  # type: ignore[arg-type]

    def executescript(self, script: str) -> None:
        """Create tables and indexes (under the writer lock: concurrent creators would collide)."""
        stmts = [translate_ddl(s) for s in script.split(";") if s.strip()]
        with self._lock:
            self.execute("BEGIN IMMEDIATE")
            try:
                for s in stmts:
                    self.conn.execute(s)  # type: ignore[arg-type]
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Return the pinned session and close every session of the pool (none is left open)."""
        with self._lock:
            if self.pool.closed:
                return
            try:
                self.pool.putconn(self.conn)
            finally:
                self.pool.close(timeout=5)
