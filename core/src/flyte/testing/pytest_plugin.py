"""The ``flyte`` pytest plugin (entry point ``pytest11``): fixtures for tests of flyte workflows and
plugins. Imports nothing from flyte until a fixture is used, so every pytest run stays as fast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flyte.testing._support import JournalReader, isolate


@pytest.fixture
def flyte_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh FLYTE_HOME (journal + object store) for this test, and fresh settings."""
    home = isolate(monkeypatch, tmp_path)
    yield home
    import flyte._config

    flyte._config._settings = None  # what the test's flyte.init() set does not outlive it


@pytest.fixture
def flyte_journal(flyte_home: Path) -> JournalReader:
    """The test's journal, read with a separate connection: ``flyte_journal.rows(query, params)``."""
    return JournalReader(flyte_home)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server for the session (on 127.0.0.1, stopped at the end); skips the test when
    PostgreSQL (initdb, postgres) or psycopg is not installed."""
    import importlib.util
    import os

    from flyte.testing._postgres import find_binaries, postgres_server

    missing = None
    if find_binaries() is None:
        missing = "PostgreSQL is not installed (no initdb/postgres on PATH or in /usr/lib/postgresql)"
    elif importlib.util.find_spec("psycopg") is None:
        missing = "psycopg is not installed: pip install 'flyte-core[postgres]'"
    if missing is not None:
        if os.environ.get("CI"):  # .ci/run installs both: nothing may be skipped there
            pytest.fail(f"{missing} (on CI)")
        pytest.skip(missing)
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_journal(postgres_server_url: str, request: pytest.FixtureRequest) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server (a journal for one test)."""
    import re
    import uuid

    from flyte.testing._postgres import new_database

    base = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    return new_database(postgres_server_url, f"t_{base}_{uuid.uuid4().hex[:8]}")
