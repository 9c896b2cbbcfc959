"""``flyte.remote.App``: an app being served on this machine, found in the app registry."""

from __future__ import annotations

from typing import Any

from flyte.remote._common import syncify_classmethod

__all__ = ["App"]


class App:
    """A served app: its name, endpoint and whether it is active (its server process is alive)."""

    def __init__(self, name: str, entry: dict[str, Any]) -> None:
        self._name = name
        self._entry = entry

    @property
    def name(self) -> str:
        return self._name

    @property
    def endpoint(self) -> str:
        return str(self._entry.get("url") or "")

    @property
    def url(self) -> str:
        return self.endpoint

    def is_active(self) -> bool:
        return True  # the registry drops entries whose process is gone

    def is_deactivated(self) -> bool:
        return False

    @syncify_classmethod
    def get(cls: type[App], name: str, project: str | None = None, domain: str | None = None) -> App:
        """The app ``name`` served from this FLYTE_HOME; raises when it is not being served."""
        from flyte.app._registry import AppNotRunningError, read_entry, registry_dir

        entry = read_entry(name)
        if entry is None:
            raise AppNotRunningError(name, registry_dir())
        return cls(name, entry)

    @syncify_classmethod
    def listall(cls: type[App], *args: Any, **kwargs: Any) -> list[App]:
        from flyte.app._registry import list_apps

        return [cls(n, e) for n, e in list_apps().items()]

    def __repr__(self) -> str:
        return f"App(name={self._name!r}, endpoint={self.endpoint!r})"
