"""Ready-made app environments for common web frameworks.

``FastAPIAppEnvironment`` serves a ``fastapi.FastAPI`` object given as ``app=`` (no ``@server``
function needed). Importing this package loads no web framework: fastapi is imported when such an
environment is defined, uvicorn only inside a replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte.app.extras._fastapi import FastAPIAppEnvironment

__all__ = [
    "FastAPIAppEnvironment",
    "FastAPIPassthroughAuthMiddleware",
    "FlyteWebhookAppEnvironment",
]

_LAZY = {"FastAPIAppEnvironment": "flyte.app.extras._fastapi"}

# Names the reference SDK has here that need a remote control plane this SDK does not talk to.
_NOT_AVAILABLE = {
    "FastAPIPassthroughAuthMiddleware": "it forwards request credentials to flyte.remote calls",
    "FlyteWebhookAppEnvironment": "its endpoints start and inspect runs through flyte.remote",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name in _NOT_AVAILABLE:
        raise NotImplementedError(
            f"flyte.app.extras.{name} is not available in this SDK: {_NOT_AVAILABLE[name]}. "
            "Use FastAPIAppEnvironment with your own endpoints (they may call flyte.run(...))."
        )
    raise AttributeError(f"module 'flyte.app.extras' has no attribute {name!r}")
