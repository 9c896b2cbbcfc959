"""Finds plugins through the "flyte.plugins" entry points and loads them with pluggy.

Loaded once, on first need (never by ``import flyte``). Each plugin is loaded and registered inside
its own try/except: a broken plugin is reported by ``flyte plugins`` and never breaks the others.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import pluggy

from flyte._plugins.hookspecs import FlyteHookSpecs
from flyte._plugins.registry import NamedRegistry, TaskTypeEntry, TaskTypeRegistry
from flyte.errors import TaskTypeNotFoundError, UnknownPluginConfigError

ENTRY_POINT_GROUP = "flyte.plugins"
BUILTIN_MODULE = "flyte._builtin_plugin"


@dataclass
class PluginInfo:
    name: str
    distribution: str
    version: str
    module: str
    task_types: list[str] = field(default_factory=list)
    storage: list[str] = field(default_factory=list)
    executors: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    error: str | None = None
    enabled: bool = True


@dataclass
class PluginState:
    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    task_types: TaskTypeRegistry
    storage: NamedRegistry
    executors: NamedRegistry
    types: NamedRegistry


_state: PluginState | None = None
_lock = threading.Lock()


def _names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _discover() -> list[tuple[str, str, str, str, Any]]:
    """(name, distribution, version, module path, loader) for each entry point."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found.append(
            (
                ep.name,
                dist.metadata["Name"] if dist is not None else "?",
                dist.version if dist is not None else "?",
                ep.value,
                ep.load,
            )
        )
    if not any(mod == BUILTIN_MODULE for _, _, _, mod, _ in found):
        # Running from a source tree without an installed distribution: the built-ins still load.
        found.insert(
            0,
            ("python", "flyte-core", "dev", BUILTIN_MODULE, lambda: importlib.import_module(BUILTIN_MODULE)),
        )
    # The built-ins register first whatever the sys.path order, so that a plugin can never take over a
    # built-in task type (it gets the duplicate error instead).
    found.sort(key=lambda f: f[3] != BUILTIN_MODULE)
    return found


def load_plugins(reload: bool = False) -> PluginState:
    """Load (once) and return every plugin and what it registered."""
    global _state
    if _state is not None and not reload:
        return _state
    with _lock:
        if _state is not None and not reload:
            return _state
        pm = pluggy.PluginManager("flyte")
        pm.add_hookspecs(FlyteHookSpecs)
        allow, block = _names("FLYTE_PLUGINS"), _names("FLYTE_DISABLE_PLUGINS")
        state = PluginState(
            pm,
            {},
            TaskTypeRegistry(),
            NamedRegistry("storage scheme"),
            NamedRegistry("executor"),
            NamedRegistry("type"),
        )
        for name, dist, version, module, load in _discover():
            info = PluginInfo(name=name, distribution=dist, version=version, module=module)
            state.plugins[name] = info
            builtin = module == BUILTIN_MODULE
            if not builtin and ((allow is not None and name not in allow) or (block and name in block)):
                info.enabled = False
                continue
            try:
                plugin = load()
                pm.register(plugin, name=name)
            except Exception as e:  # a broken plugin must not break the others
                info.error = f"{type(e).__name__}: {e}"
                continue
            _call_registrations(state, name, info)
        _state = state
        return state


def _call_registrations(state: PluginState, name: str, info: PluginInfo) -> None:
    """Call one plugin's hooks, attributing what it registers and isolating its failures."""
    plugin = state.pm.get_plugin(name)
    hooks = (
        ("flyte_register_task_types", state.task_types, info.task_types),
        ("flyte_register_storage", state.storage, info.storage),
        ("flyte_register_executors", state.executors, info.executors),
        ("flyte_register_types", state.types, info.types),
    )
    for hook_name, registry, listing in hooks:
        impls = [i for i in getattr(state.pm.hook, hook_name).get_hookimpls() if i.plugin is plugin]
        registry.current_plugin = name
        for impl in impls:
            before = set(_keys(registry))
            try:
                impl.function(registry=registry)
            except Exception as e:
                info.error = f"{hook_name}: {type(e).__name__}: {e}"
            listing.extend(sorted(set(_keys(registry)) - before))


def _keys(registry: Any) -> list[str]:
    if isinstance(registry, TaskTypeRegistry):
        return [t for t, _ in registry.entries]
    return list(registry.factories)


def find_task_type_entry(task_type: str, version: int = 0) -> TaskTypeEntry | None:
    """The registration for a task type, or None when no installed plugin provides it."""
    return load_plugins().task_types.get(task_type, version)


def function_task_for_field(field: str) -> tuple[type, str, int] | None:
    """(template class, task type, version) of the plugin that claims function tasks setting ``field``
    (``registry.add(..., function_field=field)``), or None when no installed plugin does."""
    entry = load_plugins().task_types.by_field.get(field)
    return None if entry is None else (entry.template_cls, entry.task_type, entry.version)


def _package(module: str) -> str:
    """``flyteplugins.spark`` for ``flyteplugins.spark._config``: the plugin package a module belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in ("flyteplugins", "flyte_plugins") else parts[0]


def conventional_distribution(module: str) -> str | None:
    """``flyte-plugin-<name>`` for a module of ``flyteplugins.<name>``: the naming rule plugins follow."""
    parts = module.split(".")
    if parts[0] in ("flyteplugins", "flyte_plugins") and len(parts) > 1:
        return "flyte-plugin-" + parts[1].replace("_", "-")
    return None


def declared_distribution(obj: Any) -> str | None:
    """The distribution a template (or its class) says provides its task type, else the naming rule
    applied to the module that defines its class; None for a class of the user's own code."""
    cls = obj if isinstance(obj, type) else type(obj)
    for base in cls.__mro__:  # a user's subclass of a plugin's template needs that plugin too
        declared = base.__dict__.get("plugin_distribution")
        if isinstance(declared, str) and declared:
            return declared
        conventional = conventional_distribution(base.__module__)
        if conventional is not None:
            return conventional
    return None


def missing_plugin_hint(name: str, *, module: str | None = None, distribution: str | None = None) -> str:
    """What to install (or turn on) when no loaded plugin provides ``name`` (a task type, executor or
    storage scheme). No plugin is named by the core: the hint comes from a discovered plugin of the
    same package or entry-point name that is disabled or failed to load, else from ``distribution``
    (declared by the plugin's own template class), else from the ``flyteplugins.<name>`` naming rule.
    Returns "" when nothing is known."""
    state = load_plugins()
    pkg = _package(module) if module else None
    for info in state.plugins.values():
        if info.enabled and not info.error:
            continue
        same = info.name == name or (pkg is not None and _package(info.module) == pkg)
        if not same and distribution is not None and info.distribution == distribution:
            same = True
        if not same:
            continue
        if not info.enabled:
            return (
                f" Plugin {info.name!r} ({info.distribution}) provides it but is disabled "
                "(FLYTE_PLUGINS / FLYTE_DISABLE_PLUGINS)."
            )
        return f" Plugin {info.name!r} ({info.distribution}) provides it but failed to load: {info.error}."
    dist = distribution or (conventional_distribution(module) if module else None)
    return f" Install it with: pip install {dist}." if dist else ""


def _failed_plugins(state: PluginState) -> str:
    broken = [p.name for p in state.plugins.values() if p.error]
    return f" Plugins that failed to load: {broken} (see `flyte plugins`)." if broken else ""


def task_type_entry(task_type: str, version: int = 0, template: Any = None) -> TaskTypeEntry:
    """The registration for a task type, or a clear error naming what to install.

    ``template``: the task (or its class) that needs the type; what its plugin declared names the
    distribution in the error."""
    state = load_plugins()
    entry = state.task_types.get(task_type, version)
    if entry is not None:
        return entry
    installed = sorted({t for t, _ in state.task_types.entries})
    hint = ""
    if template is not None:
        cls = template if isinstance(template, type) else type(template)
        hint = missing_plugin_hint(task_type, module=cls.__module__, distribution=declared_distribution(cls))
    if not hint:
        hint = missing_plugin_hint(task_type)
    if not hint:
        hint = " Install the flyte plugin that provides it (see `flyte plugins` for what is installed)."
    failed = _failed_plugins(state)
    if failed and "failed to load" in hint:
        failed = ""
    raise TaskTypeNotFoundError(
        f"No installed plugin provides task type {task_type!r}. "
        f"Installed task types: {installed}.{hint}{failed}"
    )


def template_for_config(config: Any) -> tuple[type, str, int]:
    """The template class a ``plugin_config`` object selects (e.g. ``Spark(...)`` -> Spark tasks)."""
    state = load_plugins()
    for cls in type(config).__mro__:
        entry = state.task_types.by_config.get(cls)
        if entry is not None:
            return entry.template_cls, entry.task_type, entry.version
    raise UnknownPluginConfigError(unknown_config_message(config, state), config)


def unknown_config_message(config: Any, state: PluginState) -> str:
    """Why no template handles a plugin_config, what is installed, and what to install.

    The distribution comes from what is discovered (a plugin of the config's package that is disabled
    or failed to load), else from the ``flyteplugins.<name>`` -> ``flyte-plugin-<name>`` naming rule;
    no plugin name is written into the core.
    """
    cls = type(config)
    qual = f"{cls.__module__}.{cls.__qualname__}"
    configs = sorted(
        f"{c.__module__}.{c.__qualname__} -> {e.task_type!r} ({e.plugin})"
        for c, e in state.task_types.by_config.items()
    )
    installed = sorted({t for t, _ in state.task_types.entries})
    pkg = _package(cls.__module__)
    hint = ""
    for info in state.plugins.values():
        if _package(info.module) != pkg:
            continue
        if info.enabled and not info.error:
            hint = f" Plugin {info.name!r} ({info.distribution}) is loaded but registers no template for it."
            break
    if not hint:
        dist = declared_distribution(cls)
        hint = missing_plugin_hint("", module=cls.__module__, distribution=dist if dist else None)
        if hint.startswith(" Install it with"):
            hint = f" Install the plugin that provides it: pip install {dist}"
    if not hint:
        hint = " Install the flyte plugin that provides it (see `flyte plugins` for what is installed)."
    return (
        f"No installed plugin handles plugin_config of type {qual}. "
        f"Installed plugin_config types: {configs or 'none'}; installed task types: {installed}.{hint}"
    )


def add_cli_commands(cli: Any) -> None:
    state = load_plugins()
    for impl in state.pm.hook.flyte_add_cli_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as e:
            info = state.plugins.get(impl.plugin_name)
            if info is not None:
                info.error = f"flyte_add_cli_commands: {type(e).__name__}: {e}"
