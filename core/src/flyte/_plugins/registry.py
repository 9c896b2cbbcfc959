"""Registries the plugin hooks fill: task types, storage schemes and executors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flyte.errors import PluginError

KNOWN_DISTRIBUTIONS = {
    "spark": "flyte-plugin-spark",
    "bigquery_query_job_task": "flyte-plugin-bigquery",
    "raw-container": "flyte-plugin-container",
    "pod": "flyte-plugin-pod",
    "shell": "flyte-contrib-shell",
}
"""Which distribution provides a task type, for the 'unknown task type' error."""


@dataclass(frozen=True)
class TaskTypeEntry:
    task_type: str
    version: int
    template_cls: type
    config_type: type | None
    backend: Any
    plugin: str


class TaskTypeRegistry:
    """task type (and version) -> template class and backend; config type -> template class."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int], TaskTypeEntry] = {}
        self.by_config: dict[type, TaskTypeEntry] = {}
        self.current_plugin = "<unknown>"

    def add(
        self,
        task_type: str,
        version: int,
        template_cls: type,
        config_type: type | None = None,
        backend: Any = None,
    ) -> None:
        key = (task_type, version)
        if not isinstance(task_type, str) or not task_type:
            raise PluginError(f"plugin {self.current_plugin!r} registered an empty task type")
        if key in self.entries:
            other = self.entries[key].plugin
            raise PluginError(
                f"task type {task_type!r} version {version} is registered by both plugin {other!r} and "
                f"plugin {self.current_plugin!r}; uninstall one or disable it with FLYTE_DISABLE_PLUGINS"
            )
        entry = TaskTypeEntry(task_type, version, template_cls, config_type, backend, self.current_plugin)
        self.entries[key] = entry
        if config_type is not None:
            self.by_config[config_type] = entry

    def get(self, task_type: str, version: int = 0) -> TaskTypeEntry | None:
        return self.entries.get((task_type, version)) or next(
            (e for (t, _), e in self.entries.items() if t == task_type), None
        )


class NamedRegistry:
    """A name -> factory map (storage schemes, executors)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.factories: dict[str, tuple[Callable[..., Any], str]] = {}
        self.current_plugin = "<unknown>"

    def add(self, name: str, factory: Callable[..., Any]) -> None:
        if name in self.factories:
            raise PluginError(
                f"{self.what} {name!r} is registered by both plugin {self.factories[name][1]!r} and "
                f"plugin {self.current_plugin!r}"
            )
        self.factories[name] = (factory, self.current_plugin)

    def get(self, name: str) -> Callable[..., Any] | None:
        f = self.factories.get(name)
        return f[0] if f else None
