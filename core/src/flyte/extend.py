"""The plugin author's API. Plugins import this module and nothing private.

A plugin declares an entry point in the "flyte.plugins" group pointing at a hooks module that uses
``hookimpl``; it subclasses ``TaskTemplate`` for its task type and, when the task runs somewhere other
than in-process Python, provides a backend: either ``run(task, inputs, ctx) -> outputs`` or a
connector ``create/get/delete`` for remote jobs (see docs/plugin-authors.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flyte._interface import NativeInterface, outputs_type
from flyte._plugins.hookspecs import hookimpl
from flyte._plugins.registry import NamedRegistry, TaskTypeRegistry
from flyte._runtime.connector_loop import run_connector
from flyte._runtime.controller import ExecutionContext
from flyte._runtime.store import LocalObjectStore, ObjectStore
from flyte._runtime.workers.gpus import LocalGpu
from flyte._runtime.workers.gpus import discover as local_gpus
from flyte._runtime.workers.gpus import matches as gpu_matches
from flyte._serialization import SerializationContext
from flyte._task import AsyncFunctionTaskTemplate, TaskTemplate, run_sync

if TYPE_CHECKING:
    from flyte._runtime.workers.remote import RemoteAction, Transport, run_action_here, run_action_here_async
    from flyte._runtime.workers.wire import dump_error


@runtime_checkable
class Backend(Protocol):
    """Runs an action to completion where it lives (a subprocess, a container, a Spark session)."""

    async def run(
        self, task: TaskTemplate[Any, Any], inputs: dict[str, Any], ctx: ExecutionContext
    ) -> Any: ...


@dataclass
class ResourceMeta:
    """What identifies a remote job; recorded in the journal so a recovered run re-attaches to it."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Resource:
    """A remote job's state as reported by ``Connector.get``."""

    phase: str
    outputs: Any = None
    message: str = ""
    error: BaseException | None = None


@runtime_checkable
class Connector(Protocol):
    """A remote job: created once, polled with backoff, deleted on cancel (idempotently)."""

    async def create(
        self, task: TaskTemplate[Any, Any], inputs: dict[str, Any], ctx: ExecutionContext
    ) -> ResourceMeta: ...

    async def get(self, meta: ResourceMeta) -> Resource: ...

    async def delete(self, meta: ResourceMeta) -> None: ...


def connector_meta_to_json(meta: ResourceMeta) -> str:
    return json.dumps({"kind": meta.kind, "data": meta.data})


def connector_meta_from_json(text: str) -> ResourceMeta:
    d = json.loads(text)
    return ResourceMeta(kind=d["kind"], data=d.get("data", {}))


_REMOTE = ("RemoteAction", "Transport", "dump_error", "run_action_here", "run_action_here_async")
"""For cluster executors (see ``flyte._runtime.workers.cluster``): imported on first use, since they
bring the wire format (cloudpickle) that a plugin's hooks module must not pay for."""


def __getattr__(name: str) -> Any:
    if name in _REMOTE:
        from flyte._runtime.workers import remote

        if name == "dump_error":
            from flyte._runtime.workers.wire import dump_error

            return dump_error
        return getattr(remote, name)
    raise AttributeError(f"module 'flyte.extend' has no attribute {name!r}")


__all__ = [
    "AsyncFunctionTaskTemplate",
    "Backend",
    "Connector",
    "ExecutionContext",
    "LocalGpu",
    "LocalObjectStore",
    "NamedRegistry",
    "NativeInterface",
    "ObjectStore",
    "RemoteAction",
    "Resource",
    "ResourceMeta",
    "SerializationContext",
    "TaskTemplate",
    "TaskTypeRegistry",
    "Transport",
    "dump_error",
    "gpu_matches",
    "hookimpl",
    "local_gpus",
    "outputs_type",
    "parse_scalar_text",
    "run_action_here",
    "run_action_here_async",
    "run_connector",
    "run_sync",
]


def parse_scalar_text(kind: str, text: str) -> Any:
    """An output written as text by a script or container: ``kind`` is "str", "int", "float" or
    "bool" (true/false, 1/0, yes/no, on/off). Raises ``ValueError`` naming the bad value."""
    value = text.strip()
    if kind == "str":
        return text[:-1] if text.endswith("\n") else text
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "y", "on"):
        return True
    if lowered in ("false", "0", "no", "n", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false, 1/0, yes/no)")
