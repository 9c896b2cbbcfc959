"""The plugin author's API. Plugins import this module and nothing private.

A plugin declares an entry point in the "flyte.plugins" group pointing at a hooks module that uses
``hookimpl``; it subclasses ``TaskTemplate`` for its task type and, when the task runs somewhere other
than in-process Python, provides a backend: either ``run(task, inputs, ctx) -> outputs`` or a
connector ``create/get/delete`` for remote jobs (see docs/plugin-authors.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from flyte._interface import NativeInterface, outputs_type
from flyte._plugins.hookspecs import hookimpl
from flyte._plugins.registry import NamedRegistry, TaskTypeRegistry
from flyte._runtime.controller import ExecutionContext
from flyte._runtime.store import LocalObjectStore, ObjectStore
from flyte._serialization import SerializationContext
from flyte._task import AsyncFunctionTaskTemplate, TaskTemplate, run_sync


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


__all__ = [
    "AsyncFunctionTaskTemplate",
    "Backend",
    "Connector",
    "ExecutionContext",
    "LocalObjectStore",
    "NamedRegistry",
    "NativeInterface",
    "ObjectStore",
    "Resource",
    "ResourceMeta",
    "SerializationContext",
    "TaskTemplate",
    "TaskTypeRegistry",
    "hookimpl",
    "outputs_type",
    "run_sync",
]
