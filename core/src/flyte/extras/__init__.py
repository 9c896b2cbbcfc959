"""Extras with the anchor SDK's names: task types and helpers beyond the core.

Provided: ``ContainerTask`` (from flyte-plugin-container, when installed), ``Sleep``/``SleepTask``,
``serialize``/``serialize_env`` (our JSON task specs). The anchor's batching helpers
(``DynamicBatcher``...), ``shell``, ``webhooks`` and ``model_streamer`` are not provided: accessing
them raises NotImplementedError naming the issue (see docs/compat.md). Names load lazily.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "BatchStats",
    "ContainerTask",
    "CostEstimator",
    "DynamicBatcher",
    "Prompt",
    "Sleep",
    "SleepTask",
    "TokenBatcher",
    "TokenEstimator",
    "model_streamer",
    "serialize",
    "serialize_env",
    "shell",
    "webhooks",
]

_PROVIDED = {
    "Sleep": "flyte.extras._sleep",
    "SleepTask": "flyte.extras._sleep",
    "serialize": "flyte.extras._serialize",
    "serialize_env": "flyte.extras._serialize",
}

_NOT_PROVIDED = {
    "BatchStats": "the LLM batching helpers",
    "CostEstimator": "the LLM batching helpers",
    "DynamicBatcher": "the LLM batching helpers",
    "Prompt": "the LLM batching helpers",
    "TokenBatcher": "the LLM batching helpers",
    "TokenEstimator": "the LLM batching helpers",
    "shell": "the container-CLI wrapper library (flyte-contrib-shell's ShellTask runs shell scripts)",
    "webhooks": "the SaaS webhook receivers",
    "model_streamer": "GPU weight streaming from object storage",
}


class NotProvidedError(NotImplementedError):
    """An anchor SDK extra this SDK does not provide."""


def __getattr__(name: str) -> Any:
    if name == "ContainerTask":
        try:
            from flyteplugins.container import ContainerTask
        except ImportError:
            raise ImportError(
                "flyte.extras.ContainerTask needs the container plugin: pip install flyte-plugin-container"
            ) from None
        globals()[name] = ContainerTask
        return ContainerTask
    module = _PROVIDED.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    what = _NOT_PROVIDED.get(name)
    if what is not None:
        raise NotProvidedError(
            f"flyte.extras.{name} ({what}) is not provided by this SDK; see docs/compat.md, issue 15 point 1."
        )
    raise AttributeError(f"module 'flyte.extras' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from flyte.extras._serialize import serialize as serialize
    from flyte.extras._serialize import serialize_env as serialize_env
    from flyte.extras._sleep import Sleep as Sleep
    from flyte.extras._sleep import SleepTask as SleepTask
