"""A journal at schema version 1, written by its DDL of the time (issue 25, migrations test).

Kept as the old layout was: on PostgreSQL, ``runs`` and ``cache_lease_events`` had no ``rowid``
column (the viewer pages runs by it); on SQLite, the same tables with SQLite's implicit rowid. The
rows are plain values a test can compare after the journal was upgraded."""

from __future__ import annotations

import sqlite3
from typing import Any

V1_SQLITE = """
CREATE TABLE runs(
  name TEXT PRIMARY KEY, task_name TEXT, module_file TEXT, module_name TEXT, attr TEXT,
  inputs BLOB, status TEXT, root_action TEXT, created_at REAL, started_at REAL, ended_at REAL,
  error TEXT, outputs BLOB, store_prefix TEXT, host TEXT, user TEXT, pid INTEGER, settings TEXT
);
CREATE TABLE actions(
  run TEXT NOT NULL, action_id TEXT NOT NULL, parent_id TEXT, position INTEGER, kind TEXT,
  task_name TEXT, task_identity TEXT, task_type TEXT, status TEXT, attempts INTEGER,
  cache_hit INTEGER DEFAULT 0, started_at REAL, ended_at REAL, inputs BLOB, outputs BLOB,
  error TEXT, group_name TEXT, mode TEXT, meta TEXT,
  PRIMARY KEY(run, action_id)
) WITHOUT ROWID;
CREATE TABLE cache_lease_events(
  key TEXT NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, run TEXT, action_id TEXT, owner TEXT,
  other_run TEXT, other_owner TEXT, detail TEXT
);
CREATE TABLE journal_info(name TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
"""

V1_POSTGRESQL = """
CREATE TABLE runs(
  name TEXT PRIMARY KEY, task_name TEXT, module_file TEXT, module_name TEXT, attr TEXT,
  inputs BYTEA, status TEXT, root_action TEXT, created_at DOUBLE PRECISION,
  started_at DOUBLE PRECISION, ended_at DOUBLE PRECISION, error TEXT, outputs BYTEA,
  store_prefix TEXT, host TEXT, "user" TEXT, pid BIGINT, settings TEXT
);
CREATE TABLE actions(
  run TEXT NOT NULL, action_id TEXT NOT NULL, parent_id TEXT, position BIGINT, kind TEXT,
  task_name TEXT, task_identity TEXT, task_type TEXT, status TEXT, attempts BIGINT,
  cache_hit BIGINT DEFAULT 0, started_at DOUBLE PRECISION, ended_at DOUBLE PRECISION, inputs BYTEA,
  outputs BYTEA, error TEXT, group_name TEXT, mode TEXT, meta TEXT,
  PRIMARY KEY(run, action_id)
);
CREATE TABLE cache_lease_events(
  key TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, event TEXT NOT NULL, run TEXT, action_id TEXT,
  owner TEXT, other_run TEXT, other_owner TEXT, detail TEXT
);
CREATE TABLE journal_info(name TEXT PRIMARY KEY, value TEXT);
"""

RUNS = [  # name, task_name, status, created_at, host, user, pid: oldest first
    (f"v1-run-{i}", "app.main", "SUCCEEDED" if i % 2 else "FAILED", 1000.0 + i, "old-host", "me", 100 + i)
    for i in range(5)
]
ACTIONS = [(f"v1-run-{i}", f"a{i}", None, 0, "task", "app.main", "SUCCEEDED") for i in range(5)]
EVENTS = [("k1", 1000.0, "acquired", "v1-run-0"), ("k1", 1000.0, "released", "v1-run-0")]


def _statements(pg: bool) -> list[tuple[str, tuple[Any, ...]]]:
    mark = "%s" if pg else "?"
    user = '"user"' if pg else "user"

    def ins(table: str, cols: str, row: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        return f"INSERT INTO {table}({cols}) VALUES({', '.join([mark] * len(row))})", row

    out = [ins("runs", f"name, task_name, status, created_at, host, {user}, pid", r) for r in RUNS]
    out += [
        ins("actions", "run, action_id, parent_id, position, kind, task_name, status", a) for a in ACTIONS
    ]
    out += [ins("cache_lease_events", "key, at, event, run", e) for e in EVENTS]
    out.append(ins("journal_info", "name, value", ("schema_version", "1")))
    return out


def write_v1(url: str) -> None:
    """Create the version-1 journal at ``url`` (a SQLite path or a postgresql:// URL) with rows."""
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
            for stmt in V1_POSTGRESQL.split(";"):
                if stmt.strip():
                    conn.execute(stmt)  # type: ignore[call-overload]
            for sql, params in _statements(pg=True):
                conn.execute(sql, params)  # type: ignore[call-overload]
        return
    conn = sqlite3.connect(url)
    try:
        conn.executescript(V1_SQLITE)
        for sql, params in _statements(pg=False):
            conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()
