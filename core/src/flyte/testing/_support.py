"""What the fixtures do, usable without pytest's fixtures too (``isolate(monkeypatch, path)``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import sqlite3

ISOLATED_ENV = ("FLYTE_CONFIG", "FLYTE_RAW_DATA_PATH", "FLYTE_ISOLATION", "FLYTE_EXECUTOR", "FLYTE_JOURNAL")
"""Variables a test must not inherit from the shell that started pytest: each would send the test's
runs somewhere else (a config file, a bucket, worker processes, a cluster)."""


class _Patch(Protocol):
    def setenv(self, name: str, value: str, prepend: str | None = None) -> None: ...

    def delenv(self, name: str, raising: bool = True) -> None: ...

    def chdir(self, path: str | Path) -> None: ...

    def setattr(self, target: Any, name: Any, value: Any = ..., raising: bool = True) -> None: ...


def isolate(monkeypatch: _Patch, tmp_path: Path) -> Path:
    """Point flyte at a fresh home under ``tmp_path`` for one test; ``monkeypatch`` undoes it."""
    import flyte._config

    home = tmp_path / "flyte-home"
    monkeypatch.setenv("FLYTE_HOME", str(home))
    for var in ISOLATED_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    # Settings made by an earlier flyte.init() would win over FLYTE_HOME: start from the defaults.
    monkeypatch.setattr(flyte._config, "_settings", None)
    return home


class JournalReader:
    """Reads a flyte home's journal through a connection of its own, as another process would."""

    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def path(self) -> Path:
        return self.home / "journal.db"

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """The rows of a read-only query (``sqlite3.Row``: by column name or position)."""
        import sqlite3

        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(query, params).fetchall())
        finally:
            conn.close()
