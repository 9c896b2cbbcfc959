"""Entry point of the shell plugin (``[project.entry-points."flyte.plugins"] shell = ...``).

Imports nothing but the hook marker: the task class is imported when flyte asks for registrations.
"""

from __future__ import annotations

from typing import Any

from flyte.extend import hookimpl


@hookimpl
def flyte_register_task_types(registry: Any) -> None:
    from flyteplugins.shell._task import TASK_TYPE, ShellTask

    # backend=None: the controller runs ShellTask.pre/execute/post in-process; execute() starts the
    # script as a subprocess.
    registry.add(TASK_TYPE, 0, ShellTask)
