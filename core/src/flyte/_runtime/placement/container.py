"""Container mode: a Python task whose environment names an image runs in a container of that image.

``with_runcontext(isolation="container")`` (``flyte run --isolation container``, ``FLYTE_ISOLATION``)
sends such tasks to the executor named ``container``, which a plugin registers through the
``flyte_register_executors`` hook (e.g. with podman or docker). The executor gets the
same ``run(task, inputs, ctx)`` call as a task-type backend; the controller around it (journal,
retries, timeouts, validation of inputs and outputs) is unchanged. Tasks without an image keep
their own mode, so a parent that fans out stays on this machine while its children run in images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flyte.errors import NonRecoverableError

if TYPE_CHECKING:
    from flyte._runtime.controller import ActionState, Controller
    from flyte._task import TaskTemplate

EXECUTOR = "container"


def load_executor() -> Any:
    """An instance of the registered ``container`` executor; a clear error when none is installed."""
    from flyte._runtime.placement.cluster import missing_executor_hint, registered_executor

    factory, hint = registered_executor(EXECUTOR)
    if factory is None:
        raise NonRecoverableError(
            "isolation='container' runs Python tasks in their environment's image through the "
            f"'{EXECUTOR}' executor, which no installed plugin provides."
            f"{missing_executor_hint(EXECUTOR)}{hint}"
        )
    executor = factory()
    if not callable(getattr(executor, "run", None)):
        raise NonRecoverableError(
            f"The '{EXECUTOR}' executor registered by a plugin has no run(task, inputs, ctx) method."
        )
    return executor


class Container:
    """A :class:`~flyte._runtime.placement.Placement`: the ``container`` executor, loaded on first use."""

    name = "container"

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.executor: Any = None

    async def run(self, tmpl: TaskTemplate[Any, Any], action: ActionState, inputs: dict[str, Any]) -> Any:
        if self.executor is None:
            self.executor = load_executor()
        return await self.executor.run(tmpl, inputs, self.controller._exec_ctx(action))

    def close(self) -> None:
        pass  # the executor holds nothing per run (each container ends with its attempt)
