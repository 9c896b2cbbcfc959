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
