"""Process isolation for local runs: warm worker processes per environment.

The controller's only entry point is :func:`make_workers`. This module is light on purpose: the
machinery in ``pool.py`` (sockets, subprocesses, cloudpickle) is imported on the first action that
runs in ``process`` mode, so inline runs pay nothing for it. ``container`` mode (``container.py``)
runs Python tasks whose environment names an image inside that image, through the ``container``
executor a plugin registers (flyte-plugin-container). A cluster executor (``flyte.init(executor=
"ray://...")``, ``cluster.py``) runs every child function action on the cluster; the root (the
workflow's orchestration) and plugin task types' backends stay with the controller.

Every place implements one small contract, :class:`Placement` (``name``, ``async run(tmpl, action,
inputs)``, ``close()``): :class:`Inline`, :class:`Process`, ``container.Container`` and
``cluster.Cluster``. :class:`Workers` only picks the place of each action and hands it the attempt.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flyte._context import ActionContext
    from flyte._runtime.controller import ActionState, Controller
    from flyte._runtime.placement.pool import WorkerManager
    from flyte._task import TaskTemplate

IN_WORKER = False
"""True inside a worker process: a run started by a task there stays inline (no nested pools)."""
MODES = ("inline", "process", "container")

_ACCEPTED = {
    "with_runcontext": "Use 'inline' (all actions in this process, fastest), "
    "'process' (all in worker processes), "
    "'container' (tasks of environments with an image run in it; flyte-plugin-container) "
    "or None (process mode for environments with a memory limit, a ReusePolicy or GPUs).",
}
_ACCEPTED_ENV = (
    "Use 'inline' (in the controller's process), 'process' (warm worker processes), "
    "'container' (the environment's image) or None (decided by what the environment declares)."
)


def check_isolation(value: Any, owner: str) -> None:
    """The one check of an ``isolation`` setting, wherever it is given: an environment or task
    (``owner`` is its name), ``with_runcontext`` and the ``FLYTE_ISOLATION`` variable."""
    if value is None or value in MODES:
        return
    from flyte._validate import param_error

    raise param_error(owner, "isolation", value, _ACCEPTED.get(owner, _ACCEPTED_ENV), types=str)


class Placement(Protocol):
    """Where one attempt of a function action runs. ``name`` is the mode the journal records."""

    name: str

    def run(
        self, tmpl: TaskTemplate[Any, Any], action: ActionState, inputs: dict[str, Any]
    ) -> Awaitable[Any]:
        """Run one attempt and return the task's output (or raise its error), awaited."""
        ...

    def close(self) -> None:
        """Release what the run held here (called once, at run end)."""
        ...


class Inline:
    """In the controller's own process and event loop: no isolation, no start-up cost."""

    name = "inline"

    async def run(self, tmpl: TaskTemplate[Any, Any], action: ActionState, inputs: dict[str, Any]) -> Any:
        return await tmpl.run_hooks(inputs, action.data)

    def close(self) -> None:
        pass


INLINE = Inline()


def _current_action() -> Any:
    """``flyte._context.current_action``, imported on first use (not at ``import flyte``)."""
    global _CURRENT
    if _CURRENT is None:
        from flyte._context import current_action

        _CURRENT = current_action
    return _CURRENT


_CURRENT: Any = None


class Process:
    """In a warm worker process of the task's environment; the pool starts on first use."""

    name = "process"

    def __init__(self, controller: Controller, max_cpus: float | None) -> None:
        self.controller = controller
        self.max_cpus = max_cpus
        self.manager: WorkerManager | None = None

    def run(
        self, tmpl: TaskTemplate[Any, Any], action: ActionState, inputs: dict[str, Any]
    ) -> Awaitable[Any]:
        """The manager's coroutine, returned (not awaited here: one coroutine frame less per resume)."""
        pac: ActionContext | None = _current_action().get()
        group = pac.group if pac is not None else None
        custom = dict(pac.custom) if pac is not None else {}
        return self.run_with(tmpl, action, inputs, group, custom)

    def run_with(
        self,
        tmpl: TaskTemplate[Any, Any],
        action: ActionState,
        inputs: dict[str, Any],
        group: str | None,
        custom: dict[str, str],
    ) -> Awaitable[Any]:
        """``run`` with the caller's group and custom context given: the controller's short path for
        a plain process step, which sets no action context of its own (issue 20)."""
        manager = self.manager
        if manager is None:
            from flyte._runtime.placement.pool import WorkerManager

            manager = self.manager = WorkerManager(self.controller, max_cpus=self.max_cpus)
        return manager.run(tmpl, action, inputs, group, custom)

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()


def make_workers(
    controller: Controller, isolation: str | None, max_cpus: float | None = None, cluster: Any = None
) -> Workers | None:
    """The run's workers, or None when every action runs inline (``isolation="inline"``).

    ``cluster``: the run's cluster executor (``cluster.load_cluster``), or None for this machine."""
    if IN_WORKER:
        return None
    if cluster is not None:
        return Workers(controller, forced=None, max_cpus=max_cpus, cluster=cluster)
    iso = isolation or os.environ.get("FLYTE_ISOLATION") or None
    check_isolation(iso, "with_runcontext")
    if iso == "inline" or IN_WORKER:
        return None
    return Workers(controller, forced=iso, max_cpus=max_cpus)


def is_function_task(tmpl: TaskTemplate[Any, Any]) -> bool:
    return tmpl.task_type == "python" and callable(getattr(tmpl, "func", None))


def has_image(tmpl: TaskTemplate[Any, Any]) -> bool:
    """True when the task's environment names an image (not ``"auto"``/unset)."""
    return tmpl.image is not None and tmpl.image != "auto"


def default_mode(tmpl: TaskTemplate[Any, Any]) -> str:
    """``process`` when the task declares what only a process can enforce (memory limit, reuse
    policy, GPUs), else ``inline``. Computed once per template."""
    d = tmpl.__dict__
    mode = d.get("_flyte_isolation")
    if mode is None:
        mode = d["_flyte_isolation"] = _declared_mode(tmpl)
    return mode  # type: ignore[no-any-return]


def _declared_mode(tmpl: TaskTemplate[Any, Any]) -> str:
    if not is_function_task(tmpl):
        return "inline"
    explicit = getattr(tmpl, "isolation", None)  # a per-environment setting, where one is declared
    if explicit in MODES:
        return str(explicit)
    if tmpl.reusable is not None:
        return "process"
    r = tmpl.resources
    if r is not None and (r.memory_limit_bytes() is not None or r.device() is not None):
        return "process"
    return "inline"


class Workers:
    """Chooses each action's mode and hands its attempts to that :class:`Placement` (made on first use)."""

    __slots__ = ("cluster", "controller", "forced", "max_cpus", "places")

    def __init__(
        self, controller: Controller, *, forced: str | None, max_cpus: float | None, cluster: Any = None
    ) -> None:
        self.controller = controller
        self.forced = forced  # None, "process" or "container" (the run's isolation)
        self.max_cpus = max_cpus
        self.cluster: Any = cluster  # a cluster executor (flyte.init(executor=...)), or None
        self.places: dict[str, Placement] = {"inline": INLINE}
        if cluster is not None:
            from flyte._runtime.placement.cluster import Cluster

            self.places[cluster.mode] = Cluster(controller, cluster)

    def mode(self, tmpl: TaskTemplate[Any, Any], action: ActionState | None = None) -> str:
        if self.cluster is not None:  # the root and environments declared inline stay with the controller
            root = action is not None and action.parent is not None and action.parent.parent is None
            on_cluster = is_function_task(tmpl) and not root and getattr(tmpl, "isolation", None) != "inline"
            return self.cluster.mode if on_cluster else "inline"
        if self.forced == "process":
            return "process" if is_function_task(tmpl) else "inline"
        if self.forced == "container" and is_function_task(tmpl) and has_image(tmpl):
            return "container"  # tasks without an image keep their own mode (e.g. a parent on the host)
        return default_mode(tmpl)

    def placement(self, mode: str) -> Placement:
        """The place for ``mode`` (one of :meth:`mode`'s answers), made on first use."""
        place = self.places.get(mode)
        if place is None:
            if mode == "container":
                from flyte._runtime.placement.container import Container

                place = Container(self.controller)
            else:
                place = Process(self.controller, self.max_cpus)
            self.places[mode] = place
        return place

    async def run(self, tmpl: TaskTemplate[Any, Any], child: ActionState, inputs: dict[str, Any]) -> Any:
        """Run one attempt of the action where its mode says (a worker, a container, the cluster)."""
        return await self.placement(self.mode(tmpl, child)).run(tmpl, child, inputs)

    def close(self) -> None:
        """Stop every worker process of the run, then release what the cluster executor holds for it."""
        cluster = self.places.get(self.cluster.mode) if self.cluster is not None else None
        for place in list(self.places.values()):
            if place is not cluster:
                place.close()
        if cluster is not None:
            cluster.close()
