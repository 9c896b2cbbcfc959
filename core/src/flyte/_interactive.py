"""``flyte.load_interactive_ctx``: restore a task's context in a debugger from a saved file.

A task pod in debug mode writes ``.flyte/run_context.json``; this SDK has no debug pods, so the file
only exists when a user (or a tool) writes one. When present, it is read into a
:class:`flyte._context.TaskContext` and returned.
"""

from __future__ import annotations

import json
import os
import pathlib

from flyte._context import ActionID, RawDataPath, TaskContext

_REQUIRED = ("run_name", "action_id")


def interactive_run_context_path() -> pathlib.Path:
    return pathlib.Path.cwd() / ".flyte" / "run_context.json"


def load_interactive_ctx(path: str | os.PathLike[str] | None = None) -> TaskContext:
    """Read a saved task context (default ``./.flyte/run_context.json``)."""
    cfg = pathlib.Path(path) if path is not None else interactive_run_context_path()
    if not cfg.is_file():
        raise FileNotFoundError(
            f"No run context file at {cfg}. It is written by a task pod running in debug mode; local runs "
            "do not write one. Pass path=... to a saved context file."
        )
    data = json.loads(cfg.read_text())
    missing = [k for k in _REQUIRED if not isinstance(data.get(k), str)]
    if missing:
        raise ValueError(f"Run context file {cfg} lacks {missing}")
    return TaskContext(
        action=ActionID(name=data["action_id"], run_name=data["run_name"]),
        run_name=data["run_name"],
        action_id=data["action_id"],
        action_name=str(data.get("action_name", data["action_id"])),
        attempt=int(data.get("attempt", 0)),
        mode=str(data.get("mode", "local")),
        group=data.get("group"),
        custom_context=dict(data.get("custom_context") or {}),
        data=dict(data.get("data") or {}),
        raw_data_path=RawDataPath(str(data.get("raw_data_path", ""))),
    )
