"""Entry point of the container plugin (``[project.entry-points."flyte.plugins"] container = ...``).

Imports nothing but the hook marker: the task class, the backend and the runtime lookup are imported
when flyte asks for registrations or runs a container.
"""

from __future__ import annotations

from typing import Any

from flyte.extend import hookimpl


@hookimpl
def flyte_register_task_types(registry: Any) -> None:
    from flyteplugins.container._backend import ContainerBackend
    from flyteplugins.container._task import TASK_TYPE, ContainerTask

    # A run(...) backend: the controller hands each attempt to ContainerBackend.run, which starts the
    # container on podman/docker and waits for it (stopping and removing it on cancel/timeout).
    registry.add(TASK_TYPE, 0, ContainerTask, backend=ContainerBackend)


@hookimpl
def flyte_register_executors(registry: Any) -> None:
    from flyteplugins.container._python import PythonContainerExecutor

    # with_runcontext(isolation="container"): Python tasks of environments with an image run in it.
    registry.add("container", PythonContainerExecutor)


@hookimpl
def flyte_build_image(image: Any, force: bool) -> str | None:
    from flyteplugins.container._build import build_image
    from flyteplugins.container._runtime import runtime_problem

    # flyte.build(image): built with podman/docker when one works here; else core returns the URI unbuilt.
    if runtime_problem() is not None:
        return None
    return str(build_image(image, force=force))
