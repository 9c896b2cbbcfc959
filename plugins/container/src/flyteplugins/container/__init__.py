"""flyte-plugin-container: container tasks (task type ``raw-container``) on podman or docker.

from flyteplugins.container import ContainerTask

greet = ContainerTask(
    name="greet",
    image="localhost/flyte-busybox:test",
    command=["sh", "-c", "echo hello {{.inputs.who}} > /var/outputs/greeting"],
    inputs={"who": str},
    outputs={"greeting": str},
)

Python tasks run in their environment's image with ``flyte.with_runcontext(isolation="container")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flyte.extend import lazy_exports

__all__ = [
    "ContainerOutputError",
    "ContainerRuntime",
    "ContainerRuntimeNotFoundError",
    "ContainerTask",
    "ContainerTaskError",
    "configure",
    "find_runtime",
]

_WHERE = {
    "ContainerTask": "_task",
    "ContainerOutputError": "_errors",
    "ContainerRuntimeNotFoundError": "_errors",
    "ContainerTaskError": "_errors",
    "ContainerRuntime": "_runtime",
    "configure": "_runtime",
    "find_runtime": "_runtime",
}


# Lazy, so that importing the hooks module (at plugin discovery) stays cheap.
__getattr__ = lazy_exports(__name__, _WHERE)


if TYPE_CHECKING:
    from flyteplugins.container._errors import ContainerOutputError as ContainerOutputError
    from flyteplugins.container._errors import (
        ContainerRuntimeNotFoundError as ContainerRuntimeNotFoundError,
    )
    from flyteplugins.container._errors import ContainerTaskError as ContainerTaskError
    from flyteplugins.container._runtime import ContainerRuntime as ContainerRuntime
    from flyteplugins.container._runtime import configure as configure
    from flyteplugins.container._runtime import find_runtime as find_runtime
    from flyteplugins.container._task import ContainerTask as ContainerTask
