"""Extras with the anchor SDK's names: task types and helpers beyond the core.

Provided: ``ContainerTask`` (from flyte-plugin-container, when installed), ``Sleep``/``SleepTask``,
``serialize``/``serialize_env`` (our JSON task specs), the async batching helpers
(``DynamicBatcher``, ``TokenBatcher``, ``BatchStats``, ``CostEstimator``, ``TokenEstimator``,
``Prompt``) and the ``shell``, ``webhooks`` and ``model_streamer`` submodules; the parts of those
submodules that need the anchor's backend raise ``NotProvidedError`` saying why (see
docs/compat.md). Names load lazily so ``import flyte.extras`` stays cheap.
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
    "BatchStats": "flyte.extras._batcher",
    "CostEstimator": "flyte.extras._batcher",
    "DynamicBatcher": "flyte.extras._batcher",
    "Prompt": "flyte.extras._batcher",
    "TokenBatcher": "flyte.extras._batcher",
    "TokenEstimator": "flyte.extras._batcher",
}

_SUBMODULES = ("model_streamer", "shell", "webhooks")


class NotProvidedError(NotImplementedError):
    """An anchor SDK extra (or part of one) this SDK does not provide; the message says why."""


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
    if name in _SUBMODULES:
        return importlib.import_module(f"flyte.extras.{name}")
    raise AttributeError(f"module 'flyte.extras' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from flyte.extras import model_streamer as model_streamer
    from flyte.extras import shell as shell
    from flyte.extras import webhooks as webhooks
    from flyte.extras._batcher import BatchStats as BatchStats
    from flyte.extras._batcher import CostEstimator as CostEstimator
    from flyte.extras._batcher import DynamicBatcher as DynamicBatcher
    from flyte.extras._batcher import Prompt as Prompt
    from flyte.extras._batcher import TokenBatcher as TokenBatcher
    from flyte.extras._batcher import TokenEstimator as TokenEstimator
    from flyte.extras._serialize import serialize as serialize
    from flyte.extras._serialize import serialize_env as serialize_env
    from flyte.extras._sleep import Sleep as Sleep
    from flyte.extras._sleep import SleepTask as SleepTask
