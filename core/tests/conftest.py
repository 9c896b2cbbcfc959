"""Shared fixtures: every test gets its own FLYTE_HOME (journal + object store) and fresh settings."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

APPS = Path(__file__).parent / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))  # sample workflow modules, importable by their plain names


@pytest.fixture(autouse=True)
def flyte_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Isolate the journal and object store of each test; subprocesses inherit it via the env."""
    import flyte._config

    home = tmp_path / "flyte-home"
    monkeypatch.setenv("FLYTE_HOME", str(home))
    monkeypatch.delenv("FLYTE_CONFIG", raising=False)
    monkeypatch.delenv("FLYTE_RAW_DATA_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(flyte._config, "_settings", None)
    _clean_identity(monkeypatch)
    yield home
    flyte._config._settings = None


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


def journal_rows(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Read the journal with a separate connection (what another process would see)."""
    conn = sqlite3.connect(str(home / "journal.db"), timeout=30)
    try:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


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
