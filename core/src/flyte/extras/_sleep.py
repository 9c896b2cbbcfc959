"""``Sleep``: the plugin config of the ``core-sleep`` task type (a task that only waits).

On a Flyte backend a sleep task runs without a pod; locally it is an ordinary in-process task whose
body runs (typically ``await asyncio.sleep(...)`` on its duration input), so it is durable like any
other action: a recovered run does not sleep again for a finished sleep.
"""

from __future__ import annotations

from dataclasses import dataclass

from flyte._task import AsyncFunctionTaskTemplate


@dataclass
class Sleep:
    """``TaskEnvironment(plugin_config=Sleep())``: the environment's tasks are sleep tasks."""


@dataclass(kw_only=True)
class SleepTask(AsyncFunctionTaskTemplate):  # type: ignore[type-arg]
    """A function task of type ``core-sleep``."""

    plugin_config: Sleep
    task_type: str = "core-sleep"
