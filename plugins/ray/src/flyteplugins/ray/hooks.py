"""Entry point of flyte-plugin-ray: the ``ray`` executor and the ``ray`` task type. Imports nothing heavy."""

from __future__ import annotations

from typing import Any

from flyte.extend import hookimpl


def _make(address: str = "ray", **_: Any) -> Any:
    from flyteplugins.ray._executor import RayExecutor

    return RayExecutor(address)


@hookimpl
def flyte_register_executors(registry: Any) -> None:
    registry.add("ray", _make)


@hookimpl
def flyte_register_task_types(registry: Any) -> None:
    from flyteplugins.ray.task import TASK_TYPE, RayFunctionTask, RayJobConfig

    # backend=None: the controller runs the task in-process, as the Ray job's driver;
    # config_type: TaskEnvironment(plugin_config=RayJobConfig(...)) builds RayFunctionTask.
    registry.add(TASK_TYPE, 0, RayFunctionTask, config_type=RayJobConfig)
