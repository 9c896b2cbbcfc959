"""The built-in plugin: the ``python`` task type, the ``file`` store and the ``local`` executor.

Registered through flyte-core's own ``flyte.plugins`` entry point, exactly like third-party plugins.
"""

from __future__ import annotations

from typing import Any

from flyte._plugins.contract import hookimpl


@hookimpl
def flyte_register_task_types(registry: Any) -> None:
    from flyte._task import AsyncFunctionTaskTemplate

    registry.add("python", 0, AsyncFunctionTaskTemplate)
    from flyte.extras._sleep import Sleep, SleepTask

    registry.add("core-sleep", 0, SleepTask, config_type=Sleep)


@hookimpl
def flyte_register_storage(registry: Any) -> None:
    from flyte._runtime.store import LocalObjectStore

    registry.add("file", LocalObjectStore)


@hookimpl
def flyte_register_types(registry: Any) -> None:
    from flyte.io._dataframe import register_types

    register_types(registry)
