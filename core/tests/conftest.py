"""Shared fixtures: every test gets its own FLYTE_HOME (journal + object store) and fresh settings."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flyte.testing import JournalReader

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


def count_fast_path(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the children that take ``Controller._submit_plain`` in this test (the path still runs):
    a one-item list, read after the run."""
    from flyte._runtime import controller

    taken = [0]
    plain = controller.Controller._submit_plain

    def counted(self: Any, *a: Any) -> Any:
        taken[0] += 1
        return plain(self, *a)

    monkeypatch.setattr(controller.Controller, "_submit_plain", counted)
    return taken


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
