"""``flyte.remote``: runs, actions, deployed tasks and apps, read from this machine's durable store.

The reference SDK reads these from a Flyte backend; here the backend is the local journal (and the
object store it points into), so every call reads ``$FLYTE_HOME`` (or what ``flyte.init`` set).
Admin entities a backend keeps (projects, secrets, users, triggers, artifacts) exist by name and
raise :class:`NoBackendError`. Names are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Action": "_action",
    "ActionDetails": "_action",
    "ActionInputs": "_action",
    "ActionOutputs": "_action",
    "App": "_app",
    "Run": "_run",
    "RunDetails": "_run",
    "Task": "_task",
    "TaskDetails": "_task",
    "LazyEntity": "_task",
    "Artifact": "_nobackend",
    "Condition": "_nobackend",
    "NoBackendError": "_nobackend",
    "PartitionSchema": "_nobackend",
    "Project": "_nobackend",
    "Secret": "_nobackend",
    "SecretTypes": "_nobackend",
    "Settings": "_nobackend",
    "TimeFilter": "_nobackend",
    "Trigger": "_nobackend",
    "TriggerDetails": "_nobackend",
    "User": "_nobackend",
    "auth_metadata": "_nobackend",
    "upload_dir": "_nobackend",
    "upload_file": "_nobackend",
}

__all__ = [
    "Action",
    "ActionDetails",
    "ActionInputs",
    "ActionOutputs",
    "App",
    "Artifact",
    "Condition",
    "LazyEntity",
    "NoBackendError",
    "PartitionSchema",
    "Project",
    "Run",
    "RunDetails",
    "Secret",
    "SecretTypes",
    "Settings",
    "Task",
    "TaskDetails",
    "TimeFilter",
    "Trigger",
    "TriggerDetails",
    "User",
    "auth_metadata",
    "upload_dir",
    "upload_file",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'flyte.remote' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from ._action import Action, ActionDetails, ActionInputs, ActionOutputs
    from ._app import App
    from ._nobackend import (
        Artifact,
        Condition,
        NoBackendError,
        PartitionSchema,
        Project,
        Secret,
        SecretTypes,
        Settings,
        TimeFilter,
        Trigger,
        TriggerDetails,
        User,
        auth_metadata,
        upload_dir,
        upload_file,
    )
    from ._run import Run, RunDetails
    from ._task import LazyEntity, Task, TaskDetails
