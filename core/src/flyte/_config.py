"""Where runs are recorded: the local home (journal + object store), from init(), env or config.

With no config anywhere, everything lives under ``~/.flyte`` (override with ``FLYTE_HOME``): the
embedded default needs no server and no setup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flyte.errors import InitializationError

CONFIG_ENV = "FLYTE_CONFIG"
CONFIG_NAMES = ("flyte.toml", ".flyte/config.toml", "config.yaml", ".flyte/config.yaml")
"""Looked for in the current folder, then in the home folder; the YAML names are the anchor SDK's."""
ANCHOR_CONFIG_ENVS = ("UCTL_CONFIG", "FLYTECTL_CONFIG")
ANCHOR_SECTIONS = ("admin", "task", "image", "logger", "console", "storage", "local", "plugins", "union")
"""Sections of the anchor's config.yaml: ``task`` gives project/domain/org, the rest configure its
backend and are accepted unused here."""


@dataclass
class Settings:
    """Resolved settings of this process."""

    home: str
    journal_path: str
    raw_data_path: str
    executor: str = "local"
    storage_options: dict[str, Any] = field(default_factory=dict)
    source: str = "default"


_settings: Settings | None = None


def default_home() -> str:
    return os.path.abspath(os.environ.get("FLYTE_HOME") or os.path.join(Path.home(), ".flyte"))


def make_settings(
    home: str | None = None,
    raw_data_path: str | None = None,
    journal_path: str | None = None,
    executor: str | None = None,
    storage: dict[str, Any] | None = None,
    source: str = "default",
) -> Settings:
    home = os.path.abspath(home) if home else default_home()
    raw = raw_data_path or os.environ.get("FLYTE_RAW_DATA_PATH") or "file://" + os.path.join(home, "data")
    return Settings(
        home=home,
        journal_path=journal_path or _journal_from_env() or os.path.join(home, "journal.db"),
        raw_data_path=raw,
        executor=executor or os.environ.get("FLYTE_EXECUTOR") or "local",
        storage_options=dict(storage or {}),
        source=source,
    )


def _journal_from_env() -> str | None:
    """``$FLYTE_JOURNAL``: a SQLite path or a ``postgresql://`` URL (checked), else None."""
    value = os.environ.get("FLYTE_JOURNAL", "")
    if not value.strip():
        return None
    from flyte._runtime.journal_backend import check_journal

    return check_journal(value, "environment", "FLYTE_JOURNAL")


def set_settings(s: Settings) -> None:
    global _settings
    _settings = s


def get_settings() -> Settings:
    """The settings in force; the embedded default when ``init`` was never called."""
    global _settings
    if _settings is None or (_settings.source == "default" and _settings.home != default_home()):
        _settings = make_settings()
    return _settings


def find_config(path: str | os.PathLike[str] | None = None) -> Path | None:
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise InitializationError("ConfigNotFound", "user", f"config file {str(p)!r} does not exist")
        return p
    env = os.environ.get(CONFIG_ENV) or next(
        (os.environ[v] for v in ANCHOR_CONFIG_ENVS if os.environ.get(v)), None
    )
    if env:
        return find_config(env)
    for base in (Path.cwd(), Path.home()):
        for name in CONFIG_NAMES:
            p = base / name
            if p.is_file():
                return p
    return None


def load_config_file(path: Path) -> dict[str, Any]:
    if path.suffix in (".yaml", ".yml"):
        return _load_anchor_yaml(path)
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except Exception as e:
        raise InitializationError("BadConfig", "user", f"could not read config {str(path)!r}: {e}") from e
    section = data.get("flyte", data)
    if not isinstance(section, dict):
        raise InitializationError("BadConfig", "user", f"config {str(path)!r}: [flyte] must be a table")
    return section


def _load_anchor_yaml(path: Path) -> dict[str, Any]:
    """The anchor SDK's ``config.yaml``: ``task: {project, domain, org}`` is used; its backend
    sections (``admin``, ``image``...) are accepted unused; our own keys may sit in a ``flyte`` section."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except Exception as e:
        raise InitializationError("BadConfig", "user", f"could not read config {str(path)!r}: {e}") from e
    if not isinstance(data, dict):
        raise InitializationError(
            "BadConfig", "user", f"config {str(path)!r}: expected a mapping of sections"
        )
    unknown = sorted(set(data) - set(ANCHOR_SECTIONS) - {"flyte"})
    if unknown:
        accepted = sorted({*ANCHOR_SECTIONS, "flyte"})
        raise InitializationError(
            "BadConfig", "user", f"config {str(path)!r}: unknown sections {unknown}; accepted: {accepted}"
        )
    out: dict[str, Any] = dict(data.get("flyte") or {})
    task = data.get("task") or {}
    if not isinstance(task, dict):
        raise InitializationError("BadConfig", "user", f"config {str(path)!r}: 'task' must be a mapping")
    for key in ("project", "domain", "org"):
        if task.get(key) is not None:
            out.setdefault(key, task[key])
    endpoint = (data.get("admin") or {}).get("endpoint") if isinstance(data.get("admin"), dict) else None
    if endpoint:
        out.setdefault("endpoint", endpoint)
    return out
