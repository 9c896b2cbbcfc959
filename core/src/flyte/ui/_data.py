"""The UI's data layer: read-only queries on the journal and safe renderings of recorded values.

Nothing here imports the web stack, and nothing here writes: the journal is opened read-only
(``flyte._runtime.journal.JournalView``, which holds the viewer's SQL). Recorded values are tagged
bytes (``J`` JSON, ``P`` cloudpickle, ``B`` raw bytes, ``R`` a URI in the run's object store holding
tagged bytes); pickles are described by their size and never unpickled.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from flyte._runtime.journal import JournalView
from flyte._runtime.run_lease import host_id

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "ABORTED")
INLINE_LIMIT = 64 * 1024
"""Values whose text is larger than this are linked, not inlined."""
PREVIEW_CHARS = 600
MAX_ACTIONS = 20_000
"""Most actions loaded for one run page (the rest are counted, not shown)."""


class JournalMissingError(Exception):
    """There is no journal file at the configured path (no run was recorded yet)."""


class OutsideStoreError(Exception):
    """A path or URI does not resolve inside the run's store."""


# ---- formatting ------------------------------------------------------------------------------------
def fmt_time(ts: float | None) -> str:
    """Local wall-clock time of a timestamp."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def fmt_seconds(d: float) -> str:
    """A short human duration: 12ms, 3.40s, 2m 05s, 1h 02m."""
    if d < 0:
        d = 0.0
    if d < 1:
        return f"{d * 1000:.0f}ms"
    if d < 60:
        return f"{d:.2f}s"
    if d < 3600:
        return f"{int(d // 60)}m {int(d % 60):02d}s"
    return f"{int(d // 3600)}h {int(d % 3600 // 60):02d}m"


def fmt_duration(start: float | None, end: float | None, now: float | None = None) -> str:
    if start is None:
        return "-"
    return fmt_seconds((end if end is not None else (now or time.time())) - start)


def fmt_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


# ---- errors ----------------------------------------------------------------------------------------
@dataclass
class ErrorInfo:
    """A recorded error: JSON ``{type, code, kind, message, traceback}`` or free text."""

    code: str
    message: str
    type: str = ""
    kind: str = ""
    traceback: str = ""

    @property
    def first_line(self) -> str:
        line = (self.message.splitlines() or [""])[0]
        return line if len(line) <= 200 else line[:197] + "..."


def parse_error(text: str | None) -> ErrorInfo | None:
    if not text:
        return None
    try:
        e = json.loads(text)
    except (TypeError, ValueError):
        return ErrorInfo(code="Error", message=str(text))
    if not isinstance(e, dict):
        return ErrorInfo(code="Error", message=str(text))
    return ErrorInfo(
        code=str(e.get("code") or e.get("type") or "Error"),
        message=str(e.get("message") or ""),
        type=str(e.get("type") or ""),
        kind=str(e.get("kind") or ""),
        traceback=str(e.get("traceback") or ""),
    )


# ---- the run store ---------------------------------------------------------------------------------
def store_root(store_prefix: str | None) -> str | None:
    """The local directory of a run's store (``file://`` prefixes only), symlinks resolved."""
    if not store_prefix:
        return None
    parsed = urlparse(store_prefix)
    if parsed.scheme not in ("", "file"):
        return None
    return os.path.realpath(unquote(parsed.path) if parsed.scheme == "file" else store_prefix)


def resolve_in_store(store_prefix: str | None, rel: str) -> str:
    """The real path of ``rel`` inside the run's store; raise when it would leave the store."""
    root = store_root(store_prefix)
    if root is None:
        raise OutsideStoreError("this run's store is not a local directory")
    if "\x00" in rel:
        raise OutsideStoreError("bad path")
    path = os.path.realpath(os.path.join(root, rel))
    if path != root and not path.startswith(root.rstrip(os.sep) + os.sep):
        raise OutsideStoreError("path is outside the run store")
    return path


def store_relpath(store_prefix: str | None, uri: str) -> str | None:
    """The path of ``uri`` relative to the run's store, or None when it is not inside it."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    root = store_root(store_prefix)
    if root is None:
        return None
    path = os.path.realpath(unquote(parsed.path))
    if path == root or not path.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return os.path.relpath(path, root)


def _ref_path(uri: str, store_prefix: str | None) -> str:
    rel = store_relpath(store_prefix, uri)
    if rel is None:
        raise OutsideStoreError(f"{uri} is not inside this run's store")
    return resolve_in_store(store_prefix, rel)


def read_value_bytes(blob: bytes, store_prefix: str | None) -> bytes:
    """The tagged bytes of a value, following an ``R`` reference into the run's store."""
    if blob[:1] != b"R":
        return blob
    uri = blob[1:].decode("utf-8", "replace")
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        with open(_ref_path(uri, store_prefix), "rb") as f:
            return f.read()
    # A remote store: only under the run's own prefix, through the store plugin for its scheme.
    prefix = (store_prefix or "").rstrip("/") + "/"
    if not store_prefix or not uri.startswith(prefix) or ".." in uri.split("/"):
        raise OutsideStoreError(f"{uri} is not inside this run's store")
    from flyte._runtime.store import store_for

    return store_for(uri).get_bytes(uri)


# ---- values ----------------------------------------------------------------------------------------
@dataclass
class FileLink:
    """A ``flyte.io.File``/``Dir`` inside a value; ``rel`` is set when it lies in the run store."""

    name: str
    uri: str
    rel: str | None


@dataclass
class RenderedValue:
    """A recorded value as the UI shows it; every string here is escaped by the templates."""

    kind: str
    size: int
    summary: str
    text: str | None = None
    fields: list[tuple[str, str]] | None = None
    preview: str | None = None
    linked: bool = False
    location: str | None = None
    files: list[FileLink] = field(default_factory=list)


def _pretty(v: Any) -> str:
    return json.dumps(v, indent=2, ensure_ascii=False)


def _find_files(v: Any, store_prefix: str | None, out: list[FileLink], depth: int = 0) -> None:
    if len(out) >= 50 or depth > 20:
        return
    if isinstance(v, dict):
        path = v.get("path")
        if isinstance(path, str) and "hash" in v and ("format" in v or "name" in v):
            name = str(v.get("name") or path.rstrip("/").rsplit("/", 1)[-1])
            out.append(FileLink(name=name, uri=path, rel=store_relpath(store_prefix, path)))
            return
        for x in v.values():
            _find_files(x, store_prefix, out, depth + 1)
    elif isinstance(v, list):
        for x in v:
            _find_files(x, store_prefix, out, depth + 1)


def _render_json(body: bytes, store_prefix: str | None, as_fields: bool, limit: int) -> RenderedValue:
    size = len(body)
    if size > limit:
        text = body[:PREVIEW_CHARS].decode("utf-8", "replace")
        return RenderedValue("json", size, f"JSON, {fmt_bytes(size)}", preview=text + " ...", linked=True)
    try:
        v = json.loads(body)
    except ValueError:
        return RenderedValue("unknown", size, f"unreadable JSON, {fmt_bytes(size)}", linked=True)
    files: list[FileLink] = []
    _find_files(v, store_prefix, files)
    pretty = _pretty(v)
    if len(pretty) > limit:
        return RenderedValue(
            "json",
            size,
            f"JSON, {fmt_bytes(size)}",
            preview=pretty[:PREVIEW_CHARS] + " ...",
            linked=True,
            files=files,
        )
    if as_fields and isinstance(v, dict):
        fields = [(str(k), _pretty(x)) for k, x in v.items()]
        return RenderedValue(
            "json", size, f"JSON, {fmt_bytes(size)}", text=pretty, fields=fields, files=files
        )
    return RenderedValue("json", size, f"JSON, {fmt_bytes(size)}", text=pretty, files=files)


def _render_tagged(
    tag: bytes, body: bytes | None, size: int, store_prefix: str | None, as_fields: bool, limit: int
) -> RenderedValue:
    if tag == b"P":
        return RenderedValue("pickle", size, f"<pickled value, {size} bytes>")
    if tag == b"B":
        head = (body or b"")[:32].hex(" ")
        more = " ..." if size > 32 else ""
        return RenderedValue("bytes", size, f"raw bytes, {fmt_bytes(size)}", preview=head + more, linked=True)
    if tag == b"J":
        if body is None:
            return RenderedValue("json", size, f"JSON, {fmt_bytes(size)}", linked=True)
        return _render_json(body, store_prefix, as_fields, limit)
    return RenderedValue("unknown", size, f"<unrecognised value, {size} bytes>")


def render_value(
    blob: bytes | None, store_prefix: str | None = None, *, as_fields: bool = False, limit: int = INLINE_LIMIT
) -> RenderedValue:
    """Describe a recorded value without ever unpickling it; large values are linked."""
    if blob is None:
        return RenderedValue("none", 0, "no value recorded")
    blob = bytes(blob)
    tag = blob[:1]
    if tag != b"R":
        return _render_tagged(tag, blob[1:], len(blob) - 1, store_prefix, as_fields, limit)
    uri = blob[1:].decode("utf-8", "replace")
    try:
        path = _ref_path(uri, store_prefix)
        size = os.path.getsize(path) - 1
        with open(path, "rb") as f:
            inner = f.read(1)
            small = size <= limit and inner in (b"J", b"B")
            body = f.read() if small else (f.read(PREVIEW_CHARS) if inner in (b"J", b"B") else None)
    except (OSError, OutsideStoreError):
        return RenderedValue("ref", 0, "stored in the object store", location=uri, linked=True)
    rv = _render_tagged(inner, body if small or inner == b"B" else None, size, store_prefix, as_fields, limit)
    if not small and inner == b"J" and body is not None:
        rv.preview = body.decode("utf-8", "replace") + " ..."
    rv.location = uri
    if rv.kind != "pickle":
        rv.linked = True
    return rv


# ---- rows ------------------------------------------------------------------------------------------
@dataclass
class RunRow:
    """One row of the runs table (without its blobs)."""

    rowid: int
    name: str
    task_name: str
    status: str
    created_at: float | None
    started_at: float | None
    ended_at: float | None
    host: str | None
    user: str | None
    pid: int | None
    store_prefix: str | None
    error: ErrorInfo | None
    settings: dict[str, Any] = field(default_factory=dict)
    module_file: str | None = None
    attr: str | None = None
    active_seconds: float | None = None  # time executing, summed over its segments (see _fill_active)
    segments: int = 0  # executions: the first, then each recovery

    @property
    def duration(self) -> str:
        if self.active_seconds is not None:
            return fmt_seconds(self.active_seconds)
        return fmt_duration(self.started_at, self.ended_at)

    @property
    def who(self) -> str:
        return f"{self.user or '?'}@{self.host or '?'}"

    @property
    def process_gone(self) -> bool:
        """A RUNNING run whose process on this host has exited (killed or crashed)."""
        if self.status != "RUNNING" or not self.pid or self.host != host_id():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task_name": self.task_name,
            "status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "host": self.host,
            "user": self.user,
            "error": None if self.error is None else {"code": self.error.code, "message": self.error.message},
        }


def _run_row(r: sqlite3.Row, full: bool = False) -> RunRow:
    settings: dict[str, Any] = {}
    if full and r["settings"]:
        try:
            settings = json.loads(r["settings"])
        except ValueError:
            settings = {}
    return RunRow(
        rowid=r["rowid"],
        name=r["name"],
        task_name=r["task_name"] or "",
        status=r["status"] or "",
        created_at=r["created_at"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        host=r["host"],
        user=r["user"],
        pid=r["pid"],
        store_prefix=r["store_prefix"],
        error=parse_error(r["error"]),
        settings=settings if isinstance(settings, dict) else {},
        module_file=r["module_file"] if full else None,
        attr=r["attr"] if full else None,
    )


def _fill_active(view: JournalView, runs: list[RunRow]) -> None:
    """Each run's time executing, as ``flyte runs list`` counts it: its segments summed; one whose
    process is gone ends at the run's last journal write (fixed, not growing with now). A journal
    older than the segments table keeps the plain start-to-end durations."""
    if not view.has_segments():
        return
    for run in runs:
        segs = view.segment_spans(run.name)
        run.segments = len(segs)
        spans = segs or [(run.started_at, run.ended_at)]
        total = 0.0
        for i, (start, end) in enumerate(spans):
            if start is None:
                continue
            if end is None:
                if i == len(spans) - 1 and run.status == "RUNNING" and not run.process_gone:
                    end = time.time()
                else:
                    last = view.last_write(run.name)
                    end = last if last is not None else start
            total += max(0.0, end - start)
        run.active_seconds = total


@dataclass
class ActionRow:
    """One action (task call, trace or durable step) without its value blobs."""

    action_id: str
    parent_id: str | None
    position: int
    kind: str
    task_name: str
    task_type: str
    status: str
    attempts: int
    cache_hit: bool
    started_at: float | None
    ended_at: float | None
    error: ErrorInfo | None
    group_name: str | None
    mode: str | None

    @property
    def duration(self) -> str:
        return fmt_duration(self.started_at, self.ended_at)

    @property
    def short_id(self) -> str:
        return self.action_id[:12]

    def to_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "parent_id": self.parent_id,
            "position": self.position,
            "kind": self.kind,
            "task_name": self.task_name,
            "status": self.status,
            "attempts": self.attempts,
            "cache_hit": self.cache_hit,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "group": self.group_name,
            "error": None if self.error is None else {"code": self.error.code, "message": self.error.message},
        }


def _action_row(r: sqlite3.Row) -> ActionRow:
    return ActionRow(
        action_id=r["action_id"],
        parent_id=r["parent_id"],
        position=r["position"] or 0,
        kind=r["kind"] or "task",
        task_name=r["task_name"] or "",
        task_type=r["task_type"] or "",
        status=r["status"] or "",
        attempts=r["attempts"] or 0,
        cache_hit=bool(r["cache_hit"]),
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        error=parse_error(r["error"]),
        group_name=r["group_name"],
        mode=r["mode"],
    )


@dataclass
class AttemptRow:
    """One attempt of an action; ``recorded`` is False for the final attempt implied by the action row."""

    attempt: int
    status: str
    started_at: float | None
    ended_at: float | None
    error: ErrorInfo | None
    recorded: bool = True

    @property
    def duration(self) -> str:
        return fmt_duration(self.started_at, self.ended_at)


@dataclass
class ActionDetail:
    """An action with its values, attempts, children and (for a cache hit) where the value came from."""

    action: ActionRow
    inputs: RenderedValue
    outputs: RenderedValue
    attempts: list[AttemptRow]
    children: list[ActionRow]
    child_count: int
    child_offset: int
    meta: str | None
    task_identity: str | None
    cache_source: tuple[str, str] | None
    spec: dict[str, Any] | None = None
    logs: list[LogView] = field(default_factory=list)
    reports: list[int] = field(default_factory=list)
    """Attempts that kept an HTML report (``flyte.report``), oldest first."""

    @property
    def adopted(self) -> str | None:
        """How a recovery adopted this action from a crashed driver's worker or container (issue 23)."""
        from flyte.cli._views import adopted_note

        return adopted_note({"meta": self.meta})

    @property
    def spec_facts(self) -> list[tuple[str, str]]:
        """The parts of the task spec a reader looks for first, as (label, text)."""
        if not self.spec:
            return []
        out: list[tuple[str, str]] = []
        for key, label in SPEC_FACTS:
            v = self.spec.get(key)
            if v not in (None, {}, [], ""):
                out.append((label, v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)))
        return out

    @property
    def spec_json(self) -> str:
        return json.dumps(self.spec, indent=2, sort_keys=True, default=str) if self.spec else ""


SPEC_FACTS = (
    ("task_type", "Task type"),
    ("resources", "Resources"),
    ("image", "Image"),
    ("env_vars", "Env vars"),
    ("secrets", "Secrets"),
    ("plugin_config", "Plugin config"),
    ("custom_config", "Custom config"),
    ("container_args", "Container args"),
    ("config", "Config"),
    ("sql", "SQL"),
    ("retries", "Retries"),
    ("timeout", "Timeout"),
    ("cache", "Cache"),
    ("reusable", "Reuse policy"),
)
LOG_SHOWN = 256 * 1024
"""Characters of one log shown on the action's page (its end); the whole file is linked."""


@dataclass
class LogView:
    """One attempt's log: ``name`` is the file under ``<action>/logs/``; ``text`` its last part."""

    name: str
    text: str
    size: int
    rel: str | None = None  # path inside a local run store, for the raw-file link

    @property
    def truncated(self) -> bool:
        return self.size > len(self.text)


def action_logs(store_prefix: str | None, action_id: str, attempts: int) -> list[LogView]:
    """The logs kept for an action: what it printed (``attempt-N.log``), a plugin backend's own log
    beside it (``attempt-N.driver.log``) and container logs, oldest attempt first."""
    if not store_prefix or "/" in action_id or action_id.startswith("."):
        return []
    out: list[LogView] = []
    if store_root(store_prefix) is not None:
        rel_dir = f"{action_id}/logs"
        try:
            folder = resolve_in_store(store_prefix, rel_dir)
            names = sorted(os.listdir(folder), key=_log_order)
        except (OSError, OutsideStoreError):
            return []
        for name in names:
            if not name.endswith(".log"):
                continue
            try:
                path = resolve_in_store(store_prefix, f"{rel_dir}/{name}")
                size = os.path.getsize(path)
                with open(path, "rb") as f:
                    f.seek(max(0, size - LOG_SHOWN))
                    text = f.read().decode("utf-8", "replace")
            except (OSError, OutsideStoreError):
                continue
            out.append(LogView(name, text, size, f"{rel_dir}/{name}"))
        return out
    from flyte._runtime.store import join, store_for

    store = store_for(store_prefix)
    for n in range(max(1, attempts)):
        for name in (f"attempt-{n}.log", f"attempt-{n}.driver.log"):
            try:
                data = store.get_bytes(join(store_prefix, action_id, "logs", name))
            except Exception:
                continue
            text = data[-LOG_SHOWN:].decode("utf-8", "replace")
            out.append(LogView(name, text, len(data)))
    return out


def action_reports(store_prefix: str | None, action_id: str, attempts: int) -> list[int]:
    """The attempts of an action that kept an HTML report."""
    from flyte._runtime import reports

    return [n for n, _ in reports.find(store_prefix, action_id, attempts)]


def read_report(store_prefix: str | None, action_id: str, attempt: int) -> bytes | None:
    """One attempt's report document from the run's store (None when it has none)."""
    from flyte._runtime import reports

    if not store_prefix or "/" in action_id or action_id.startswith("."):
        return None
    if store_root(store_prefix) is not None:
        try:
            path = resolve_in_store(store_prefix, f"{action_id}/reports/attempt-{attempt}.html")
            with open(path, "rb") as f:
                return f.read()
        except (OSError, OutsideStoreError):
            return None
    from flyte._runtime.store import store_for

    try:
        return store_for(store_prefix).get_bytes(reports.report_path(store_prefix, action_id, attempt))
    except Exception:
        return None


def _log_order(name: str) -> tuple[int, str]:
    stem = name.split(".", 1)[0]
    digits = stem.rsplit("-", 1)[-1]
    return (int(digits) if digits.isdigit() else 0, name)


@dataclass
class RunPage:
    """A page of the runs list, newest first, with keyset cursors."""

    runs: list[RunRow]
    total: int
    has_newer: bool
    has_older: bool
    limit: int

    @property
    def newest_rowid(self) -> int | None:
        return self.runs[0].rowid if self.runs else None

    @property
    def oldest_rowid(self) -> int | None:
        return self.runs[-1].rowid if self.runs else None


# ---- the reader ------------------------------------------------------------------------------------
class JournalReader:
    """Read-only queries on one journal file; a fresh connection per use (cheap, thread-safe)."""

    def __init__(self, path: str) -> None:
        from flyte._runtime.journal_backend import is_postgres, redact

        self.url = path if is_postgres(path) else None
        self.path = redact(path) if self.url else os.path.abspath(path)  # shown: no password
        self._pg_view: JournalView | None = None
        self._pg_lock = threading.Lock()

    @contextmanager
    def connect(self) -> Iterator[JournalView]:
        if self.url is not None:  # PostgreSQL: one read-only session, replaced if the server drops it
            with self._pg_lock:
                if self._pg_view is None:
                    self._pg_view = JournalView.open(self.url)
            yield self._pg_view
            return
        if not os.path.exists(self.path):
            raise JournalMissingError(self.path)
        view = JournalView.open(self.path)
        try:
            yield view
        finally:
            view.conn.close()

    # -- runs --------------------------------------------------------------------------------------
    def list_runs(
        self,
        status: str | None = None,
        task: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> RunPage:
        """Runs newest first (by insertion, the rowid), filtered; ``before``/``after`` are rowid cursors."""
        limit = max(1, min(int(limit), 500))
        with self.connect() as view:
            rows, total, has_newer, has_older = view.runs_page(
                status.upper() if status else None, task or None, before, after, limit
            )
            runs = [_run_row(r) for r in rows]
            _fill_active(view, runs)
        return RunPage(runs=runs, total=total, has_newer=has_newer, has_older=has_older, limit=limit)

    def task_names(self, limit: int = 200) -> list[str]:
        with self.connect() as view:
            return view.task_names(limit)

    def get_run(self, name: str) -> RunRow | None:
        with self.connect() as view:
            r = view.run(name)
            run = None if r is None else _run_row(r, full=True)
            if run is not None:
                _fill_active(view, [run])
        return run

    def run_value(self, name: str, field_name: str) -> tuple[bytes | None, str | None] | None:
        """The run's recorded inputs (or outputs) blob and its store prefix."""
        inputs = {"inputs": True, "outputs": False}[field_name]
        with self.connect() as view:
            return view.run_value(name, inputs)

    def list_state(self) -> str:
        """Changes whenever a run is added or changes status (for polling the list)."""
        with self.connect() as view:
            r = view.list_state()
        return ":".join(str(x) for x in r)

    def run_state(self, name: str) -> dict[str, Any] | None:
        """The run's status and a version string that changes whenever one of its actions changes."""
        with self.connect() as view:
            state = view.run_state(name)
        if state is None:
            return None
        status, ended_at, a = state
        version = ":".join(str(x) for x in (status, ended_at, *a))
        return {"status": status, "version": version, "live": status == "RUNNING"}

    # -- actions -----------------------------------------------------------------------------------
    def run_actions(self, name: str, limit: int = MAX_ACTIONS) -> tuple[list[ActionRow], int]:
        """The run's actions (at most ``limit``) and how many there are in all."""
        with self.connect() as view:
            rows, total = view.run_actions(name, limit)
        return [_action_row(r) for r in rows], total

    def action_value(
        self, name: str, action_id: str, field_name: str
    ) -> tuple[bytes | None, str | None] | None:
        inputs = {"inputs": True, "outputs": False}[field_name]
        with self.connect() as view:
            return view.action_value(name, action_id, inputs)

    def action_detail(
        self, run: RunRow, action_id: str, child_limit: int = 200, child_offset: int = 0
    ) -> ActionDetail | None:
        """One action with its values, attempts and a page of its children (by position)."""
        with self.connect() as view:
            r = view.action(run.name, action_id)
            if r is None:
                return None
            action = _action_row(r)
            attempts = [
                AttemptRow(
                    a["attempt"], a["status"] or "", a["started_at"], a["ended_at"], parse_error(a["error"])
                )
                for a in view.attempts(run.name, action_id)
            ]
            kids = view.children(run.name, action_id, child_limit, max(0, child_offset))
            child_count = len(kids)
            if child_count >= child_limit or child_offset:
                child_count = view.child_count(run.name, action_id)
            source = None
            if action.cache_hit and r["outputs"] is not None:
                source = view.cache_source(action.task_name, r["outputs"])
            spec = None
            if r["task_identity"]:
                text = view.spec(r["task_identity"])
                if text:
                    try:
                        spec = json.loads(text)
                    except ValueError:
                        spec = None
        attempts = _with_final_attempt(action, attempts)
        return ActionDetail(
            action=action,
            inputs=render_value(r["inputs"], run.store_prefix, as_fields=True),
            outputs=render_value(r["outputs"], run.store_prefix),
            attempts=attempts,
            children=[_action_row(k) for k in kids],
            child_count=child_count,
            child_offset=max(0, child_offset),
            meta=r["meta"],
            task_identity=r["task_identity"],
            cache_source=source,
            spec=spec if isinstance(spec, dict) else None,
            logs=action_logs(run.store_prefix, action_id, action.attempts),
            reports=action_reports(run.store_prefix, action_id, action.attempts),
        )


def _with_final_attempt(action: ActionRow, recorded: list[AttemptRow]) -> list[AttemptRow]:
    """The journal records failed attempts; the last (running or successful) one is the action row."""
    n = action.attempts
    if action.cache_hit or n <= len(recorded):
        return recorded
    if action.status in ("RUNNING", "QUEUED", "SUCCEEDED"):
        start = recorded[-1].ended_at if recorded else action.started_at
        end = None if action.status != "SUCCEEDED" else action.ended_at
        return [*recorded, AttemptRow(n - 1, action.status, start, end, None, recorded=False)]
    return recorded


# ---- the action tree -------------------------------------------------------------------------------
@dataclass
class Group:
    """Children started inside one ``flyte.group`` block (folded by default); ``total`` counts all."""

    name: str
    items: list[Node]
    counts: dict[str, int]
    cache_hits: int
    started_at: float | None
    ended_at: float | None
    total: int = 0
    is_group = True

    def add(self, a: ActionRow) -> None:
        """Count a member (shown or not)."""
        self.total += 1
        self.counts[a.status] = self.counts.get(a.status, 0) + 1
        self.cache_hits += int(a.cache_hit)
        if a.started_at is not None:
            self.started_at = a.started_at if self.started_at is None else min(self.started_at, a.started_at)
        if a.ended_at is not None:
            self.ended_at = a.ended_at if self.ended_at is None else max(self.ended_at, a.ended_at)

    @property
    def duration(self) -> str:
        return fmt_duration(self.started_at, self.ended_at)

    @property
    def key(self) -> str:
        return f"g:{self.items[0].action.action_id}" if self.items else f"g:{self.name}"


@dataclass
class Node:
    """An action with its children, groups folded into :class:`Group` items."""

    action: ActionRow
    depth: int
    items: list[Node | Group] = field(default_factory=list)
    hidden: int = 0
    hidden_counts: dict[str, int] = field(default_factory=dict)
    is_group = False

    @property
    def key(self) -> str:
        return f"a:{self.action.action_id}"


def _count(actions: Sequence[ActionRow]) -> dict[str, int]:
    c: dict[str, int] = {}
    for a in actions:
        c[a.status] = c.get(a.status, 0) + 1
    return c


def status_counts(actions: Sequence[ActionRow]) -> dict[str, int]:
    """Actions per status, plus ``CACHED`` for cache hits."""
    c = _count(actions)
    hits = sum(1 for a in actions if a.cache_hit)
    if hits:
        c["CACHED"] = hits
    return dict(sorted(c.items()))


def build_tree(
    actions: Sequence[ActionRow], max_children: int = 200, max_nodes: int = 3000, complete: bool = True
) -> list[Node]:
    """Nest actions under their parents (by position); children in a group their parent is not in fold.

    At most ``max_children`` per parent and ``max_nodes`` in all are built; the rest are counted. When
    ``complete`` is False (the run's actions were truncated) actions whose parent was not loaded are
    left out instead of being shown at the top.
    """
    ids = {a.action_id for a in actions}
    by_parent: dict[str | None, list[ActionRow]] = {}
    for a in actions:
        key = a.parent_id if a.parent_id in ids else None
        if key is None and a.parent_id is not None and not complete:
            continue
        by_parent.setdefault(key, []).append(a)
    for kids in by_parent.values():
        kids.sort(key=lambda a: (a.position, a.started_at or 0.0))
    budget = [max_nodes]

    def build(a: ActionRow, depth: int, seen: frozenset[str]) -> Node:
        node = Node(a, depth)
        kids = by_parent.get(a.action_id, []) if a.action_id not in seen else []
        groups: dict[str, Group] = {}
        inner = seen | {a.action_id}
        for i, k in enumerate(kids):
            grp = None
            if k.group_name and k.group_name != a.group_name:
                grp = groups.get(k.group_name)
                if grp is None:
                    grp = groups[k.group_name] = Group(k.group_name, [], {}, 0, None, None)
                    node.items.append(grp)
                grp.add(k)
            if i >= max_children or budget[0] <= 0:
                node.hidden += 1
                node.hidden_counts[k.status] = node.hidden_counts.get(k.status, 0) + 1
                continue
            budget[0] -= 1
            child = build(k, depth + 1, inner)
            (grp.items if grp is not None else node.items).append(child)
        for grp in groups.values():
            if grp.counts.get("RUNNING") or grp.counts.get("QUEUED"):
                grp.ended_at = None
        return node

    roots = by_parent.get(None, [])
    budget[0] -= min(len(roots), max_children)
    return [build(a, 0, frozenset()) for a in roots[:max_children]]


# ---- the timeline ----------------------------------------------------------------------------------
@dataclass
class GanttRow:
    action: ActionRow
    depth: int
    x: float
    w: float


@dataclass
class Gantt:
    """Bars in percent of the run's span, in tree order; ``ticks`` are (percent, label)."""

    rows: list[GanttRow]
    ticks: list[tuple[float, str]]
    span: float
    total: int
    truncated: bool


def _nice_step(span: float, n: int = 6) -> float:
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def gantt(run: RunRow, roots: Sequence[Node], now: float | None = None, max_rows: int = 300) -> Gantt:
    now = now or time.time()
    flat: list[tuple[ActionRow, int]] = []

    def walk(n: Node) -> None:
        flat.append((n.action, n.depth))
        for it in n.items:
            for sub in it.items if isinstance(it, Group) else [it]:
                walk(sub)

    for r in roots:
        walk(r)
    starts = [a.started_at for a, _ in flat if a.started_at is not None]
    t0 = min([*starts, *([run.started_at] if run.started_at else [])], default=now)
    ends = [a.ended_at if a.ended_at is not None else now for a, _ in flat if a.started_at is not None]
    if run.ended_at is not None:
        ends.append(run.ended_at)
    elif run.status == "RUNNING":
        ends.append(now)
    t1 = max(ends, default=t0)
    span = max(t1 - t0, 1e-3)
    rows: list[GanttRow] = []
    for a, depth in flat[:max_rows]:
        if a.started_at is None:
            continue
        end = a.ended_at if a.ended_at is not None else now
        x = (a.started_at - t0) / span * 100
        w = max((end - a.started_at) / span * 100, 0.25)
        x = min(max(x, 0.0), 99.75)
        rows.append(GanttRow(a, depth, round(x, 3), round(min(w, 100 - x), 3)))
    step = _nice_step(span)
    ticks: list[tuple[float, str]] = []
    t = 0.0
    while t <= span * 1.0001 and len(ticks) < 12:
        ticks.append((round(t / span * 100, 3), fmt_seconds(t) if t else "0"))
        t += step
    return Gantt(rows=rows, ticks=ticks, span=span, total=len(flat), truncated=len(flat) > max_rows)


# ---- issue 22: what fired a run, and its notification deliveries --------------------------------
@dataclass
class RunAutomation:
    """The trigger occurrence that started a run (if any) and the run's notification deliveries."""

    trigger: dict[str, Any] | None
    deliveries: list[dict[str, Any]]

    @property
    def schedule(self) -> str:
        spec = json.loads((self.trigger or {}).get("spec") or "{}")
        auto = spec.get("automation") or {}
        if "cron" in auto:
            return f"cron {auto['cron']['expression']} ({auto['cron']['timezone']})"
        if "fixed_rate" in auto:
            return f"every {auto['fixed_rate']['interval_minutes']} min"
        return ""


def run_automation(reader: JournalReader, name: str) -> RunAutomation:
    from flyte._runtime.journal import Journal

    with reader.connect() as view:  # read-only: the Journal's static readers take its connection
        fired_by = Journal.read_run_trigger(view.conn, name)
        return RunAutomation(fired_by, Journal.read_run_deliveries(view.conn, name))
