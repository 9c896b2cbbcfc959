"""Where running apps are found by name: one JSON file per app under ``$FLYTE_HOME/apps/``.

``flyte serve`` (or ``flyte.serve``) writes ``<name>.json`` with the URL, its PID and its replicas
once the app is ready, rewrites it when replicas change, and removes it when it stops. A reader
ignores (and removes) an entry whose PID is gone, so a killed server never leaves a stale URL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["ENDPOINT_PATTERN_ENV", "AppNotRunningError", "get_endpoint", "list_apps", "read_entry"]

# Set on a cluster: the in-cluster URL pattern of apps, e.g. "http://{app_fqdn}.apps.svc" (the anchor's name).
ENDPOINT_PATTERN_ENV = "INTERNAL_APP_ENDPOINT_PATTERN"


class AppNotRunningError(LookupError):
    """No app of that name is being served where this process can see it."""

    def __init__(self, name: str, where: Path) -> None:
        self.name = name
        super().__init__(
            f"app {name!r} is not being served (no live entry in {where}). Start it with "
            f"`flyte serve <file.py> {name}` or flyte.serve(app) using the same FLYTE_HOME, "
            f"or set {ENDPOINT_PATTERN_ENV} to find apps on a cluster."
        )


def registry_dir() -> Path:
    from flyte._config import get_settings

    return Path(get_settings().home) / "apps"


def _path(name: str) -> Path:
    return registry_dir() / f"{name}.json"


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (and is not a zombie we could see)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def write_entry(name: str, entry: dict[str, Any]) -> Path:
    """Atomically (re)write the entry of ``name``."""
    path = _path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entry, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def remove_entry(name: str, pid: int) -> None:
    """Remove the entry of ``name`` if it is the one written by ``pid``."""
    path = _path(name)
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def read_entry(name: str) -> dict[str, Any] | None:
    """The live entry of ``name``: None when there is none or its server is gone."""
    path = _path(name)
    try:
        entry: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = entry.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        try:
            path.unlink()
        except OSError:
            pass
        return None
    return entry


def list_apps() -> dict[str, dict[str, Any]]:
    """Every app being served under this FLYTE_HOME, by name."""
    out: dict[str, dict[str, Any]] = {}
    d = registry_dir()
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        entry = read_entry(p.stem)
        if entry is not None:
            out[p.stem] = entry
    return out


def get_endpoint(name: str) -> str:
    """The URL of the app ``name``: from a running ``flyte serve`` here, else the cluster pattern."""
    entry = read_entry(name)
    if entry is not None:
        return str(entry["url"])
    pattern = os.environ.get(ENDPOINT_PATTERN_ENV)
    if pattern:
        return pattern.format(app_fqdn=name)
    raise AppNotRunningError(name, registry_dir())
