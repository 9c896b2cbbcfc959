"""Registries the plugin hooks fill: task types, storage schemes and executors.

They implement the protocols of ``flyte._plugins.contract`` (what a hook is handed). No plugin is named
here: what a plugin provides, and what to install when it is missing, comes from the plugins themselves
(see ``flyte._plugins.manager.missing_plugin_hint``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flyte.errors import PluginError

CLAIMABLE_FIELDS = ("pod_template",)
"""``TaskTemplate`` fields a plugin may claim with ``function_field=``: a Python function task that sets
one becomes the plugin's task type (the core consults the registry where it sets the field)."""


@dataclass(frozen=True)
class TaskTypeEntry:
    task_type: str
    version: int
    template_cls: type
    config_type: type | None
    backend: Any
    plugin: str
    function_field: str | None = None


class TaskTypeRegistry:
    """task type (and version) -> template class and backend; config type -> template class."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int], TaskTypeEntry] = {}
        self.by_config: dict[type, TaskTypeEntry] = {}
        self.by_field: dict[str, TaskTypeEntry] = {}
        self.current_plugin = "<unknown>"

    def add(
        self,
        task_type: str,
        version: int,
        template_cls: type,
        config_type: type | None = None,
        backend: Any = None,
        *,
        function_field: str | None = None,
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
        if function_field is not None and function_field not in CLAIMABLE_FIELDS:
            raise PluginError(
                f"plugin {self.current_plugin!r} registered task type {task_type!r} with "
                f"function_field={function_field!r}; the fields a plugin may claim are "
                f"{list(CLAIMABLE_FIELDS)}"
            )
        if function_field is not None and function_field in self.by_field:
            claimer = self.by_field[function_field]
            raise PluginError(
                f"function_field {function_field!r} is claimed by task type {claimer.task_type!r} (plugin "
                f"{claimer.plugin!r}) and by {task_type!r} (plugin {self.current_plugin!r}); uninstall one"
            )
        entry = TaskTypeEntry(
            task_type, version, template_cls, config_type, backend, self.current_plugin, function_field
        )
        self.entries[key] = entry
        if config_type is not None:
            self.by_config[config_type] = entry
        if function_field is not None:
            self.by_field[function_field] = entry

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
