"""Run records: a run's journal rows exported to its object-store prefix, and imported elsewhere.

The export/import side of the journal (``journal.py`` holds the live tables): its SQL stays in these
two modules. ``flyte runs export/import``, the run's background exporter and remote stores use it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from flyte._runtime.journal import Journal

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


def _columns(journal: Journal, table: str) -> list[str]:
    """The table's columns; ``rowid`` (a serial column in PostgreSQL) is each journal's own."""
    return [r["name"] for r in journal.query(f"PRAGMA table_info({table})") if r["name"] != "rowid"]


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


# ---- a whole journal copied into another (``flyte journal migrate SRC DST``) ---------------------
MIGRATED: tuple[tuple[str, str], ...] = (
    ("runs", "run"),
    ("actions", "run"),
    ("attempts", "run"),
    ("segments", "run"),
    ("notify_deliveries", "run"),
    ("cache", "keep"),
    ("specs", "keep"),
    ("deployed", "keep"),
    ("cache_leases", "keep"),
    ("trigger_state", "keep"),
    ("trigger_fires", "keep"),
    ("trigger_meta", "keep"),
    ("run_leases", "keep"),
    ("run_takeovers", "keep"),
    ("cache_lease_events", "events"),
)
"""Every table of the journal but ``journal_info`` (each journal keeps its own schema version), with
how a row meets the destination: ``run`` rows belong to a run the destination must not hold yet (a
clash aborts the whole copy); ``keep`` rows (cache entries, specs, deployments, trigger state) keep
the destination's row of the same key; ``events`` (the lease history, no key) skip a row identical to
one already there, so a second migration of the same journal adds nothing."""


class RunsExist(FileExistsError):
    """The destination already holds some of the source's runs (``names``)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        super().__init__(f"{len(names)} of its runs are already in the destination ({shown})")


def _ensure_tables(journal: Journal) -> None:
    """Create the tables made on first use (deployments, cache leases, triggers), empty if new."""
    journal._deployed()
    journal._lease_tables()
    journal._issue22_tables()
    journal._run_lease_tables()


def migrate_journal(src: Journal, dst: Journal) -> dict[str, int]:
    """Copy every row of ``src`` into ``dst`` in one transaction, values unchanged; returns rows
    copied per table. Raises :class:`RunsExist` (and writes nothing) when ``dst`` holds any of the
    runs of ``src``, ``ValueError`` while a run of ``src`` is still running (its lease is live)."""
    _ensure_tables(src)
    _ensure_tables(dst)
    live = src.query("SELECT run FROM run_leases WHERE expires_at > ? ORDER BY run", (time.time(),))
    if live:  # its driver still writes to src: what it writes after the copy would be lost
        shown = ", ".join(r[0] for r in live[:5])
        raise ValueError(
            f"{len(live)} runs of the source are still running ({shown}): migrate after they end"
            " (or once their drivers are gone and their leases expired)"
        )
    names = [r[0] for r in src.query("SELECT name FROM runs ORDER BY name")]
    clash: list[str] = []
    for i in range(0, len(names), 500):
        chunk = names[i : i + 500]
        found = dst.query(f"SELECT name FROM runs WHERE name IN ({','.join('?' * len(chunk))})", chunk)
        clash += [r[0] for r in found]
    if clash:
        raise RunsExist(sorted(clash))
    statements: list[tuple[str, Sequence[Any]]] = []
    counts: dict[str, int] = {}
    for table, how in MIGRATED:
        src_cols = [c for c in _columns(src, table) if c != "rowid"]
        dst_cols = set(_columns(dst, table))
        missing = [c for c in src_cols if c not in dst_cols]
        if missing:
            raise ValueError(
                f"the destination's {table} table has no column {missing[0]!r}: upgrade flyte there"
            )
        cols = ",".join(src_cols)
        # insertion order where a reader relies on it: the lease history; runs (the viewer pages by it)
        order = {"cache_lease_events": " ORDER BY rowid", "runs": " ORDER BY created_at, name"}.get(table, "")
        rows: list[tuple[Any, ...]] = [tuple(r) for r in src.query(f"SELECT {cols} FROM {table}{order}")]
        if how == "events" and rows:
            there = {tuple(r) for r in dst.query(f"SELECT {cols} FROM {table}")}
            rows = [r for r in rows if r not in there]
        verb = "INSERT OR IGNORE" if how == "keep" else "INSERT"
        sql = f"{verb} INTO {table}({cols}) VALUES({','.join('?' * len(src_cols))})"
        statements += [(sql, r) for r in rows]
        counts[table] = len(rows)
    try:
        dst.commit(statements)
    except dst.integrity_errors:
        # a run written into the destination since the check above: nothing was copied
        now = [r[0] for r in dst.query("SELECT name FROM runs")]
        raise RunsExist(sorted(set(now) & set(names))) from None
    return counts
