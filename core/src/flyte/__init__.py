"""Flyte 2-style SDK: tasks in plain Python, run durably on this machine by default.

Names are loaded on first use so that ``import flyte`` stays light (no pydantic, no plugin scan).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str | None]] = {
    "TaskEnvironment": ("flyte._environment", "TaskEnvironment"),
    "Resources": ("flyte._resources", "Resources"),
    "GPU": ("flyte._resources", "GPU"),
    "TPU": ("flyte._resources", "TPU"),
    "Device": ("flyte._resources", "Device"),
    "ReusePolicy": ("flyte._reusable", "ReusePolicy"),
    "Cache": ("flyte._cache", "Cache"),
    "CachePolicy": ("flyte._cache", "CachePolicy"),
    "RetryStrategy": ("flyte._retry", "RetryStrategy"),
    "Backoff": ("flyte._retry", "Backoff"),
    "Timeout": ("flyte._timeout", "Timeout"),
    "Secret": ("flyte._secret", "Secret"),
    "Image": ("flyte._image", "Image"),
    "PodTemplate": ("flyte._pod", "PodTemplate"),
    "TaskTemplate": ("flyte._task", "TaskTemplate"),
    "AsyncFunctionTaskTemplate": ("flyte._task", "AsyncFunctionTaskTemplate"),
    "run": ("flyte._run", "run"),
    "with_runcontext": ("flyte._run", "with_runcontext"),
    "rerun": ("flyte._run", "rerun"),
    "init": ("flyte._run", "init"),
    "init_from_config": ("flyte._run", "init_from_config"),
    "Run": ("flyte._run", "Run"),
    "trace": ("flyte._trace", "trace"),
    "map": ("flyte._map", "map"),
    "group": ("flyte._group", "group"),
    "custom_context": ("flyte._group", "custom_context"),
    "get_custom_context": ("flyte._group", "get_custom_context"),
    "ctx": ("flyte._context", "ctx"),
    "errors": ("flyte.errors", None),
    "io": ("flyte.io", None),
    "durable": ("flyte.durable", None),
    "extend": ("flyte.extend", None),
    "app": ("flyte.app", None),
    "serve": ("flyte.app._serve", "serve"),
    "with_servecontext": ("flyte.app._serve", "with_servecontext"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'flyte' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from flyte import app as app
    from flyte import durable as durable
    from flyte import errors as errors
    from flyte import extend as extend
    from flyte import io as io
    from flyte._cache import Cache as Cache
    from flyte._cache import CachePolicy as CachePolicy
    from flyte._context import ctx as ctx
    from flyte._environment import TaskEnvironment as TaskEnvironment
    from flyte._group import (
        custom_context as custom_context,
    )
    from flyte._group import (
        get_custom_context as get_custom_context,
    )
    from flyte._group import (
        group as group,
    )
    from flyte._image import Image as Image
    from flyte._map import map as map
    from flyte._pod import PodTemplate as PodTemplate
    from flyte._resources import GPU as GPU
    from flyte._resources import TPU as TPU
    from flyte._resources import Device as Device
    from flyte._resources import Resources as Resources
    from flyte._retry import Backoff as Backoff
    from flyte._retry import RetryStrategy as RetryStrategy
    from flyte._reusable import ReusePolicy as ReusePolicy
    from flyte._run import (
        Run as Run,
    )
    from flyte._run import (
        init as init,
    )
    from flyte._run import (
        init_from_config as init_from_config,
    )
    from flyte._run import (
        rerun as rerun,
    )
    from flyte._run import (
        run as run,
    )
    from flyte._run import (
        with_runcontext as with_runcontext,
    )
    from flyte._secret import Secret as Secret
    from flyte._task import (
        AsyncFunctionTaskTemplate as AsyncFunctionTaskTemplate,
    )
    from flyte._task import (
        TaskTemplate as TaskTemplate,
    )
    from flyte._timeout import Timeout as Timeout
    from flyte._trace import trace as trace
    from flyte.app._serve import serve as serve
    from flyte.app._serve import with_servecontext as with_servecontext
