"""Read-only views of the journal: runs, actions, attempts, recorded values and deployed tasks.

``flyte.remote`` and the CLI read the durable store through this one module, so the SQL that knows
the journal's tables stays in ``journal.py``: this module asks it by meaning (a run, its actions,
its attempts) and hands rows on as plain dicts keyed by column name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from flyte._runtime.journal import SORTABLE_RUN_COLUMNS, Journal, open_journal
from flyte._runtime.run_lease import host_id

SORTABLE = SORTABLE_RUN_COLUMNS
"""Run columns ``Run.listall(sort_by=...)`` accepts."""


def journal() -> Journal:
    """This process's journal (``flyte.init`` settings, or the defaults)."""
    from flyte._config import get_settings

    return open_journal(get_settings().journal_path)


# ---- runs --------------------------------------------------------------------------------------------
def get_run(name: str, j: Journal | None = None) -> dict[str, Any] | None:
    row = (j or journal()).get_run(name)
    return None if row is None else row.as_dict()


def list_runs(
    statuses: Sequence[str] | None = None,
    task_name: str | None = None,
    user: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    sort_by: tuple[str, str] = ("created_at", "desc"),
    limit: int | None = 100,
    j: Journal | None = None,
) -> list[dict[str, Any]]:
    """Runs matching every given filter (values are bound parameters; columns come from a fixed set)."""
    runs = (j or journal()).list_runs(statuses, task_name, user, sort_by)
    rows = [r.as_dict() for r in runs]
    if project is not None or domain is not None:  # kept in the settings JSON
        rows = [r for r in rows if _matches_identity(r, project, domain)]
    return rows if limit is None else rows[:limit]


def _matches_identity(run: dict[str, Any], project: str | None, domain: str | None) -> bool:
    s = run_settings(run)
    return (project is None or s.get("project") == project) and (domain is None or s.get("domain") == domain)


def run_settings(run: dict[str, Any]) -> dict[str, Any]:
    try:
        out = json.loads(run.get("settings") or "{}")
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def action_count(run_name: str, j: Journal | None = None) -> int:
    return (j or journal()).action_count(run_name)


def effective_status(run: dict[str, Any]) -> str:
    """A RUNNING run whose process on this machine is gone was interrupted: say so."""
    if run["status"] != "RUNNING":
        return str(run["status"])
    if run.get("pid") == os.getpid() or process_alive(run.get("host"), run.get("pid")):
        return "RUNNING"
    return "RUNNING" if run.get("host") != host_id() else "INTERRUPTED"


def run_segments(run: dict[str, Any], j: Journal | None = None) -> list[dict[str, Any]]:
    """Each execution of a run (the first, then each recovery) with a fixed ``ended_at``: one whose
    process died ends at the run's last journal write, one still running has ``ended_at`` None.
    A run recorded before segments existed shows its runs row as its one segment."""
    import time

    from flyte._runtime.journal import INTERRUPTED, last_write, segments

    jj = j or journal()
    segs = segments(jj, run["name"]) or [
        {
            "n": 0,
            "started_at": run.get("started_at"),
            "ended_at": run.get("ended_at"),
            "status": run.get("status"),
            "pid": run.get("pid"),
            "error": run.get("error"),
        }
    ]
    status = effective_status(run)
    for i, seg in enumerate(segs):
        seg["duration"] = None
        if seg["ended_at"] is None:
            if i == len(segs) - 1 and status == "RUNNING":
                if seg["started_at"] is not None:
                    seg["duration"] = max(0.0, time.time() - seg["started_at"])
                continue
            seg["ended_at"] = last_write(jj, run["name"])  # the process died after its last write
            seg["status"] = INTERRUPTED
        if seg["started_at"] is not None and seg["ended_at"] is not None:
            seg["duration"] = max(0.0, seg["ended_at"] - seg["started_at"])
    return segs


def run_duration(run: dict[str, Any], j: Journal | None = None) -> float | None:
    """Time the run spent executing: the sum of its segments (not the gaps between a failure or a
    crash and its recovery). Fixed once the run has ended or its process is gone."""
    durations = [s["duration"] for s in run_segments(run, j) if s["duration"] is not None]
    return sum(durations) if durations else None


def process_alive(host: str | None, pid: int | None) -> bool:
    from flyte._run import _alive_elsewhere

    return _alive_elsewhere(host, pid)


def mark_aborted(run_name: str, error: dict[str, Any], action_error: str, statuses: tuple[str, str]) -> Any:
    """Record an interrupted run (and its unfinished actions) as aborted; the live run lease that
    refused it instead (a driver on some host executes the run), else None."""
    aborted, running = statuses
    from flyte._runtime.run_lease import _holder_gone

    return journal().run_aborted(
        run_name, aborted, running, json.dumps(error), action_error, lambda h: _holder_gone(h.host, h.pid)
    )


# ---- actions -----------------------------------------------------------------------------------------
def list_actions(run_name: str, j: Journal | None = None) -> list[dict[str, Any]]:
    return (j or journal()).list_actions(run_name)


def get_action(run_name: str, action_id: str, j: Journal | None = None) -> dict[str, Any] | None:
    return (j or journal()).get_action(run_name, action_id)


def list_attempts(run_name: str, action_id: str, j: Journal | None = None) -> list[dict[str, Any]]:
    return (j or journal()).list_attempts(run_name, action_id)


def run_attempts(run_name: str, j: Journal | None = None) -> list[dict[str, Any]]:
    """Every recorded attempt of a run's actions (all executions of it), in order."""
    return (j or journal()).list_attempts(run_name)


def value_bytes(raw: bytes | memoryview | None) -> bytes | None:
    """A recorded value's bytes, fetched from the object store when the journal keeps a reference."""
    if raw is None:
        return None
    from flyte._runtime.codec import REF_TAG
    from flyte._runtime.store import store_for

    data = bytes(raw)
    if data[:1] == REF_TAG:
        uri = data[1:].decode()
        data = store_for(uri).get_bytes(uri)
    return data


def error_info(text: str | None) -> dict[str, Any] | None:
    """The JSON the journal keeps for a failure (type, code, kind, message, traceback)."""
    if not text:
        return None
    try:
        out = json.loads(text)
    except ValueError:
        return {"message": text}
    return out if isinstance(out, dict) else {"message": str(out)}


def action_logs(store_prefix: str | None, action_id: str, attempt: int) -> str | None:
    """What one attempt of an action printed (None when it printed nothing)."""
    if not store_prefix:
        return None
    from flyte._runtime.logs import log_path
    from flyte._runtime.store import store_for

    uri = log_path(store_prefix, action_id, attempt)
    try:
        return store_for(uri).get_bytes(uri).decode(errors="replace")
    except (FileNotFoundError, OSError):
        return None


# ---- deployed tasks ----------------------------------------------------------------------------------
def put_deployed(rows: list[dict[str, Any]], j: Journal | None = None) -> None:
    """Record deployed tasks (a version already recorded for a name is replaced: a redeploy)."""
    (j or journal()).put_deployed(rows)


def get_deployed(name: str, version: str | None = None, j: Journal | None = None) -> dict[str, Any] | None:
    """A deployed task by name and version; the latest deployed version when ``version`` is None."""
    return (j or journal()).get_deployed(name, version)


def list_deployed(
    name: str | None = None, env: str | None = None, limit: int | None = 100, j: Journal | None = None
) -> list[dict[str, Any]]:
    rows = (j or journal()).list_deployed(name, env)
    return rows if limit is None else rows[:limit]
