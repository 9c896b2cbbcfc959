"""Recorded values decoded for ``flyte.remote``: typed when the task can be loaded, plain otherwise."""

from __future__ import annotations

import json
from typing import Any

from flyte._runtime import reader


def load_run_task(run: dict[str, Any]) -> Any:
    """The run's root task (imported from its recorded module), or None when it cannot be loaded."""
    from flyte._run import load_task

    try:
        return load_task(run.get("module_file"), run.get("module_name"), run["attr"])
    except Exception:
        return None


def find_task(root: Any, task_name: str) -> Any:
    """A task of that name in the root task's module, or None."""
    import sys

    from flyte._task import TaskTemplate

    if root is None:
        return None
    if root.name == task_name:
        return root
    mod = sys.modules.get(getattr(root, "__module__", "") or "")
    for v in vars(mod).values() if mod is not None else ():
        if isinstance(v, TaskTemplate) and v.name == task_name:
            return v
    return None


def _plain(data: bytes) -> Any:
    from flyte._runtime.codec import BYTES_TAG, PICKLE_TAG, _unpickle

    tag, body = data[:1], data[1:]
    if tag == BYTES_TAG:
        return body
    if tag == PICKLE_TAG:
        return _unpickle(body)
    return json.loads(body)


def decode_inputs(raw: Any, task: Any) -> dict[str, Any]:
    data = reader.value_bytes(raw)
    if data is None:
        return {}
    if task is not None:
        from flyte._runtime.controller import interface_codec

        try:
            return dict(interface_codec(task).decode_inputs(data))
        except Exception:
            pass
    out = _plain(data)
    return dict(out) if isinstance(out, dict) else {"o0": out}


def decode_output(raw: Any, task: Any) -> Any:
    data = reader.value_bytes(raw)
    if data is None:
        return None
    if task is not None:
        from flyte._runtime.controller import interface_codec

        try:
            return interface_codec(task).decode_output(data)
        except Exception:
            pass
    return _plain(data)
