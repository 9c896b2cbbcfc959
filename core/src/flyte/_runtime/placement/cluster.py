"""Cluster executors: where child actions run when one machine is not enough.

``flyte.init(executor="ray://HOST:PORT")`` (config key ``executor``, ``flyte run --executor``) names
an executor by its scheme (the part before ``://``, ``:`` or ``+``); a plugin registers a factory for
that scheme through the ``flyte_register_executors`` hook. The factory gets the whole address and
returns an object with:

- ``mode``: the word ``flyte runs show`` prints for actions it ran (e.g. ``"ray"``);
- ``async run(action: flyte.extend.RemoteAction) -> Any``: run one attempt of a function action
  (``action.spec()`` travels, ``action.reply()`` answers the body's requests, ``action.outcome()``
  gives the output or raises);
- ``close()``: release what the run held (called once at run end).

The controller stays here: the journal, the action IDs, retries, timeouts and caching are unchanged;
the root action (the workflow's orchestration) and plugin task types' backends (connectors, Spark
sessions) run with it, and every other function action runs on the cluster.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flyte.errors import InvalidParameterError, NonRecoverableError

if TYPE_CHECKING:
    from flyte._runtime.controller import ActionState, Controller
    from flyte._task import TaskTemplate

_SCHEME = re.compile(r"^([a-z][a-z0-9_-]*)(?:$|\+|:)")


def scheme_of(executor: str) -> str:
    """``"ray://h:p"`` -> ``"ray"``; ``"local"`` -> ``"local"``."""
    m = _SCHEME.match(executor) if isinstance(executor, str) else None
    if m is None:
        raise InvalidParameterError(
            "init",
            "executor",
            executor,
            "Use 'local' (this machine) or a cluster address such as 'ray://HOST:PORT'.",
        )
    return m.group(1)


def check_executor(executor: str) -> None:
    """Definition-time check of ``flyte.init(executor=...)``: its form (plugins are checked at run)."""
    scheme_of(executor)


def registered_executor(name: str) -> tuple[Any, str]:
    """The factory a plugin registered for executor ``name`` (None when none did), and a hint that
    names the plugins that failed to load, for the error when it is missing."""
    from flyte._plugins.manager import load_plugins

    state = load_plugins()
    failed = sorted(p for p, info in state.plugins.items() if info.error)
    hint = f" Plugins that failed to load: {failed} (see `flyte plugins`)." if failed else ""
    return state.executors.get(name), hint


def missing_executor_hint(name: str) -> str:
    """What to install for an executor no loaded plugin registers: a discovered plugin of that name
    that is off or broken, else the naming rule (``flyte-plugin-<name>``); the core names no plugin."""
    from flyte._plugins.manager import conventional_distribution, missing_plugin_hint

    hint = missing_plugin_hint(name)
    if hint:
        return hint
    dist = conventional_distribution(f"flyteplugins.{name}")
    return f" Install the plugin that registers it, by the naming convention: pip install {dist}."


def load_cluster(executor: str) -> Any:
    """The executor registered for ``executor``'s scheme, made for this run."""
    scheme = scheme_of(executor)
    if scheme == "local":  # this machine is no registered executor: only the plain word names it
        raise InvalidParameterError("init", "executor", executor, "Use 'local' alone for this machine.")
    factory, hint = registered_executor(scheme)
    if factory is None:
        raise NonRecoverableError(
            f"executor={executor!r} needs the {scheme!r} executor, which no installed plugin provides."
            f"{missing_executor_hint(scheme)}{hint}"
        )
    executor_obj = factory(address=executor)
    if not callable(getattr(executor_obj, "run", None)) or not isinstance(
        getattr(executor_obj, "mode", None), str
    ):
        raise NonRecoverableError(
            f"The {scheme!r} executor registered by a plugin has no run(action) method or mode name."
        )
    return executor_obj


class Cluster:
    """A :class:`~flyte._runtime.placement.Placement`: a plugin's cluster executor for this run."""

    def __init__(self, controller: Controller, executor: Any) -> None:
        self.controller = controller
        self.executor = executor
        self.name: str = executor.mode

    async def run(self, tmpl: TaskTemplate[Any, Any], action: ActionState, inputs: dict[str, Any]) -> Any:
        from flyte._context import current_action
        from flyte._runtime.placement.remote import RemoteAction

        pac = current_action.get()
        group = pac.group if pac is not None else None
        custom = dict(pac.custom) if pac is not None else {}
        return await self.executor.run(RemoteAction(self.controller, tmpl, action, inputs, group, custom))

    def close(self) -> None:
        self.executor.close()
