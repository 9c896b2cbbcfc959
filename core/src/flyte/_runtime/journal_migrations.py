"""The journal's schema versions and the steps between them (issue 25).

A journal records its layout version in ``journal_info`` (``schema_version``). Opening one older
than :data:`SCHEMA_VERSION` upgrades it in place: the steps from its version up run in one writer
transaction (SQLite's writer lock; on PostgreSQL the journal's advisory lock), after the version is
read again under that lock, so of several processes opening it at once one migrates and the others
find it done. Each applied version is noted in ``journal_migrations`` (which process, when). A
journal newer than this flyte is refused, never written.

Steps are per backend (SQLite, PostgreSQL), since a layout change may mean different SQL on each or
nothing at all on one. Each is idempotent (``IF NOT EXISTS``), so a journal that was already
(partly) in the new layout is not harmed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from flyte.errors import StorageError

SCHEMA_VERSION = 3
"""The layout this flyte writes. Bump it with a new :data:`MIGRATIONS` entry."""


_ACTION_COLUMNS = (
    "run, action_id, parent_id, position, kind, task_name, task_identity, task_type, status, attempts,"
    " cache_hit, started_at, ended_at, inputs, outputs, error, group_name, mode, meta"
)


@dataclass(frozen=True)
class Migration:
    """From ``version`` to ``version + 1``: the statements on each backend, and why."""

    version: int
    why: str
    sqlite: tuple[str, ...] = ()
    postgresql: tuple[str, ...] = ()


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "tables read in insertion order (runs, cache_lease_events: ORDER BY rowid) get PostgreSQL's"
        " rowid column. SQLite: nothing to do, those tables have SQLite's implicit rowid already.",
        sqlite=(),
        postgresql=(
            "ALTER TABLE runs ADD COLUMN IF NOT EXISTS rowid BIGSERIAL",
            "ALTER TABLE IF EXISTS cache_lease_events ADD COLUMN IF NOT EXISTS rowid BIGSERIAL",
        ),
    ),
    Migration(
        2,
        "SQLite: the actions table gets a rowid (it was WITHOUT ROWID): a new row is appended to the"
        " table and only its short key goes into the (run, action_id) index at a random place, instead"
        " of the whole ~200-byte row (issue 20: ~0.5-1 µs less per action row in a 10k fan-out)."
        " Rebuilt by copying, columns and values unchanged. PostgreSQL: nothing to do.",
        sqlite=(
            "ALTER TABLE actions RENAME TO actions_v2",
            "CREATE TABLE actions("
            "run TEXT NOT NULL, action_id TEXT NOT NULL, parent_id TEXT, position INTEGER, kind TEXT,"
            " task_name TEXT, task_identity TEXT, task_type TEXT, status TEXT, attempts INTEGER,"
            " cache_hit INTEGER DEFAULT 0, started_at REAL, ended_at REAL, inputs BLOB, outputs BLOB,"
            " error TEXT, group_name TEXT, mode TEXT, meta TEXT, PRIMARY KEY(run, action_id))",
            f"INSERT INTO actions({_ACTION_COLUMNS}) SELECT {_ACTION_COLUMNS} FROM actions_v2",
            "DROP TABLE actions_v2",  # and its index
            "CREATE INDEX IF NOT EXISTS actions_by_parent ON actions(run, parent_id, position)",
        ),
    ),
)
"""Ordered: ``MIGRATIONS[i].version == i + 1``."""

MIGRATIONS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS journal_migrations("
    "version INTEGER PRIMARY KEY, applied_at REAL, host TEXT, pid INTEGER) WITHOUT ROWID"
)
GET_VERSION = "SELECT value FROM journal_info WHERE name='schema_version'"
INIT_VERSION = "INSERT OR IGNORE INTO journal_info(name, value) VALUES('schema_version', ?)"
SET_VERSION = "UPDATE journal_info SET value=? WHERE name='schema_version'"
NOTE = "INSERT INTO journal_migrations(version, applied_at, host, pid) VALUES(?,?,?,?)"


def read_version(conn: Any) -> int | None:
    row = conn.execute(GET_VERSION).fetchone()
    if row is None:
        return None
    text = str(row[0])
    return int(text) if text.isdigit() else None


def refuse_newer(found: int, display: str) -> StorageError:
    return StorageError(
        f"the journal at {display} has schema version {found}, newer than this flyte knows"
        f" ({SCHEMA_VERSION}): upgrade flyte-core to read it, or choose another journal"
        " (flyte.init(journal=...), `journal` in flyte.toml, $FLYTE_JOURNAL or --journal)"
    )


def upgrade(conn: Any, pg: bool, display: str) -> list[int]:
    """Bring the journal on ``conn`` to :data:`SCHEMA_VERSION`; returns the versions migrated from
    (empty when another process did it first, or nothing was due)."""
    from flyte._runtime.run_lease import host_id

    done: list[int] = []
    found: int | None = None
    conn.execute("BEGIN IMMEDIATE")  # one migrator at a time; the others wait here, then find it done
    try:
        found = read_version(conn) or 1
        if found > SCHEMA_VERSION:
            raise refuse_newer(found, display)
        for step in MIGRATIONS[found - 1 :]:
            for sql in step.postgresql if pg else step.sqlite:
                conn.execute(sql)
            conn.execute(NOTE, (step.version + 1, time.time(), host_id(), os.getpid()))
            done.append(step.version)
        if done:
            conn.execute(SET_VERSION, (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException as e:
        conn.execute("ROLLBACK")
        if isinstance(e, StorageError):
            raise
        raise StorageError(
            f"could not upgrade the journal at {display} from schema version {found} to"
            f" {SCHEMA_VERSION} (nothing was changed): {e}"
        ) from e
    return done
