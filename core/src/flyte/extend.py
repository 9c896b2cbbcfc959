"""The plugin author's API. Plugins import this module and nothing private.

A plugin declares an entry point in the "flyte.plugins" group pointing at a hooks module that uses
``hookimpl``; it subclasses ``TaskTemplate`` for its task type and, when the task runs somewhere other
than in-process Python, provides a backend: either ``run(task, inputs, ctx) -> outputs`` or a
connector ``create/get/delete`` for remote jobs (see docs/plugin-authors.md).

Every name is loaded on first use: ``from flyte.extend import hookimpl`` (what a hooks module does)
loads the contract module only (``flyte._plugins.contract``), never the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_CONTRACT = "flyte._plugins.contract"
_KIT = "flyte._plugins.kit"
_REMOTE = "flyte._runtime.placement.remote"

_LAZY: dict[str, str] = {
    # the contract: what plugins implement or receive
    "hookimpl": _CONTRACT,
    "Backend": _CONTRACT,
    "Connector": _CONTRACT,
    "ExecutionContext": _CONTRACT,
    "Executor": _CONTRACT,
    "NamedRegistry": _CONTRACT,
    "ObjectStore": _CONTRACT,
    "Resource": _CONTRACT,
    "ResourceMeta": _CONTRACT,
    "TaskTypeRegistry": _CONTRACT,
    "TypeTransformer": _CONTRACT,
    "connector_meta_from_json": _CONTRACT,
    "connector_meta_to_json": _CONTRACT,
    # helpers plugins share (values as text, names, cleanup, lazy exports, subprocesses)
    "as_text": _KIT,
    "check_io_names": _KIT,
    "finish_shielded": _KIT,
    "lazy_exports": _KIT,
    "parse_scalar_text": _KIT,
    "run_command": _KIT,
    "strip_optional": _KIT,
    "value_kind": _KIT,
    # templates and what they are built from
    "AsyncFunctionTaskTemplate": "flyte._task",
    "TaskTemplate": "flyte._task",
    "run_sync": "flyte._task",
    "NativeInterface": "flyte._interface",
    "outputs_type": "flyte._interface",
    "SerializationContext": "flyte._serialization",
    # runtime pieces a backend may use
    "run_connector": "flyte._runtime.connector_loop",
    "LocalObjectStore": "flyte._runtime.store",
    "LocalGpu": "flyte._runtime.placement.gpus",
    # cluster executors (they bring the wire format, cloudpickle)
    "RemoteAction": _REMOTE,
    "Transport": _REMOTE,
    "run_action_here": _REMOTE,
    "run_action_here_async": _REMOTE,
    "dump_error": "flyte._runtime.placement.wire",
    # adoption by a recovered driver (issue 23): how long an orphaned action waits for one
    "orphan_grace": "flyte._runtime.placement.adopt",
    "write_orphaned": "flyte._runtime.placement.adopt",
    "touch_beat": "flyte._runtime.placement.adopt",
    "beat_while_waiting": "flyte._runtime.placement.adopt",
    "orphan_note": "flyte._runtime.placement.adopt",
    "store_for": "flyte._runtime.store",
}
_RENAMED = {
    "local_gpus": ("flyte._runtime.placement.gpus", "discover"),
    "gpu_matches": ("flyte._runtime.placement.gpus", "matches"),
}


def _load(module: str) -> Any:
    # __import__ (the import statement's path) rather than importlib.import_module, so that
    # `python -X importtime` accounts for what a name costs.
    return __import__(module, fromlist=("__name__",))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(_load(module), name)
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
        value = getattr(_load(module), attr)
    else:
        raise AttributeError(f"module 'flyte.extend' has no attribute {name!r}")
    globals()[name] = value  # the next access is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = sorted([*_LAZY, *_RENAMED])

if TYPE_CHECKING:
    from flyte._interface import NativeInterface as NativeInterface
    from flyte._interface import outputs_type as outputs_type
    from flyte._plugins.contract import Backend as Backend
    from flyte._plugins.contract import Connector as Connector
    from flyte._plugins.contract import ExecutionContext as ExecutionContext
    from flyte._plugins.contract import Executor as Executor
    from flyte._plugins.contract import NamedRegistry as NamedRegistry
    from flyte._plugins.contract import ObjectStore as ObjectStore
    from flyte._plugins.contract import Resource as Resource
    from flyte._plugins.contract import ResourceMeta as ResourceMeta
    from flyte._plugins.contract import TaskTypeRegistry as TaskTypeRegistry
    from flyte._plugins.contract import TypeTransformer as TypeTransformer
    from flyte._plugins.contract import connector_meta_from_json as connector_meta_from_json
    from flyte._plugins.contract import connector_meta_to_json as connector_meta_to_json
    from flyte._plugins.contract import hookimpl as hookimpl
    from flyte._plugins.kit import as_text as as_text
    from flyte._plugins.kit import check_io_names as check_io_names
    from flyte._plugins.kit import finish_shielded as finish_shielded
    from flyte._plugins.kit import lazy_exports as lazy_exports
    from flyte._plugins.kit import parse_scalar_text as parse_scalar_text
    from flyte._plugins.kit import run_command as run_command
    from flyte._plugins.kit import strip_optional as strip_optional
    from flyte._plugins.kit import value_kind as value_kind
    from flyte._runtime.connector_loop import run_connector as run_connector
    from flyte._runtime.placement.adopt import beat_while_waiting as beat_while_waiting
    from flyte._runtime.placement.adopt import orphan_grace as orphan_grace
    from flyte._runtime.placement.adopt import orphan_note as orphan_note
    from flyte._runtime.placement.adopt import touch_beat as touch_beat
    from flyte._runtime.placement.adopt import write_orphaned as write_orphaned
    from flyte._runtime.placement.gpus import LocalGpu as LocalGpu
    from flyte._runtime.placement.gpus import discover as _discover
    from flyte._runtime.placement.gpus import matches as _matches
    from flyte._runtime.placement.remote import RemoteAction as RemoteAction
    from flyte._runtime.placement.remote import Transport as Transport
    from flyte._runtime.placement.remote import run_action_here as run_action_here
    from flyte._runtime.placement.remote import run_action_here_async as run_action_here_async
    from flyte._runtime.placement.wire import dump_error as dump_error
    from flyte._runtime.store import LocalObjectStore as LocalObjectStore
    from flyte._runtime.store import store_for as store_for
    from flyte._serialization import SerializationContext as SerializationContext
    from flyte._task import AsyncFunctionTaskTemplate as AsyncFunctionTaskTemplate
    from flyte._task import TaskTemplate as TaskTemplate
    from flyte._task import run_sync as run_sync

    local_gpus = _discover
    gpu_matches = _matches
