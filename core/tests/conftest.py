"""Shared fixtures: every test gets its own FLYTE_HOME (journal + object store) and fresh settings."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flyte.testing import JournalReader

if TYPE_CHECKING:
    from flyte._runtime.journal import ActionRow

APPS = Path(__file__).parent / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))  # sample workflow modules, importable by their plain names


@pytest.fixture(autouse=True)
def flyte_home(flyte_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """flyte.testing's fixture (its own FLYTE_HOME, fresh settings) for every test here, and no
    project/domain/org left by another test."""
    _clean_identity(monkeypatch)
    return flyte_home


def _clean_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Project/domain/org given to ``flyte.init`` are process-wide (and exported to workers through
    the environment): each test starts without them and leaves none behind."""
    import flyte._initialize
    import flyte._run

    monkeypatch.setattr(flyte._initialize, "_identity", {})
    monkeypatch.setattr(flyte._run, "_identity", {"org": None, "project": None, "domain": None})
    import flyte._image

    monkeypatch.setattr(flyte._image, "_IMAGE_REFS", {})  # named images of flyte.init(images=...)
    for var in ("FLYTE_PROJECT", "FLYTE_DOMAIN", "FLYTE_ORG"):
        monkeypatch.setenv(var, "x")  # so that teardown restores the variable's original state
        monkeypatch.delenv(var)


def count_fast_path(monkeypatch: pytest.MonkeyPatch, path: str = "_submit_plain") -> list[int]:
    """Count the children that take the Controller's fast path ``path`` in this test (the path still
    runs): a one-item list, read after the run."""
    from flyte._runtime import controller

    taken = [0]
    fast = getattr(controller.Controller, path)

    def counted(self: Any, *a: Any) -> Any:
        taken[0] += 1
        return fast(self, *a)

    monkeypatch.setattr(controller.Controller, path, counted)
    return taken


_ACTION_COLS = (
    "run, action_id, parent_id, position, kind, task_name, task_identity, task_type, status, attempts, "
    "cache_hit, inputs, outputs, error, group_name, mode, meta"
)
_ATTEMPT_COLS = "run, action_id, attempt, status, error"


def comparable_record(home: Path, frames: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A run's action and attempt rows, each error reduced to its record and the traceback lines that
    contain ``frames`` (the user's own code, where it was raised): what a fast path must record
    exactly as the general path does, whose runtime frames differ."""

    def error(text: str | None) -> Any:
        if text is None:
            return None
        record = json.loads(text)
        tb = record.pop("traceback", "") or ""
        return record, [line.strip() for line in tb.splitlines() if frames in line]

    actions = journal_rows(home, f"SELECT {_ACTION_COLS} FROM actions ORDER BY action_id")
    attempts = journal_rows(home, f"SELECT {_ATTEMPT_COLS} FROM attempts ORDER BY action_id, attempt")
    return (
        [(*tuple(r)[:13], error(r["error"]), *tuple(r)[14:]) for r in actions],
        [(*tuple(r)[:4], error(r["error"])) for r in attempts],
    )


def journal_rows(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Read the journal with a separate connection (what another process would see)."""
    return JournalReader(home).rows(sql, params)


def python_cmd(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def spawn(code: str, home: Path | None = None, **env: str) -> subprocess.Popen[str]:
    """Start ``python -c code`` with the apps directory importable and FLYTE_HOME set."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join([str(APPS), full_env.get("PYTHONPATH", "")])
    if home is not None:
        full_env["FLYTE_HOME"] = str(home)
    full_env.update(env)
    return subprocess.Popen(
        python_cmd(code), env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def action_row(i: int, run: str = "r") -> ActionRow:
    """A RUNNING journal ActionRow of action ``a<i>`` in run ``run`` (for the journal's own tests)."""
    from flyte._runtime.journal import ActionRow

    return ActionRow(
        run, f"a{i}", None, i, "task", "t", None, None, "RUNNING", 1, 0, 1.0, None, b"in", None,
        None, None, None, None,
    )  # fmt: skip


def done_row(i: int) -> ActionRow:
    """:func:`action_row` ended SUCCEEDED with output ``b"<i>"``."""
    return action_row(i)._replace(status="SUCCEEDED", ended_at=2.0, outputs=b"%d" % i)


def journal_statuses(path: str) -> dict[str, str]:
    """Each action's status in the SQLite journal at ``path``, read with a connection of its own."""
    raw = sqlite3.connect(path)
    try:
        return dict(raw.execute("SELECT action_id, status FROM actions").fetchall())
    finally:
        raw.close()
