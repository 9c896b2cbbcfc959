"""flyte-contrib-shell: the "shell" task type, a shell script with typed inputs and outputs.

from flyteplugins.shell import ShellTask

count_lines = ShellTask(
    name="count_lines",
    script="wc -l < {inputs.path} > {outputs.count}",
    inputs={"path": flyte.io.File},
    outputs={"count": int},
)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flyte.extend import lazy_exports

__all__ = ["ShellOutputError", "ShellTask", "ShellTaskError"]

# Lazy, so that importing the hooks module (at plugin discovery) stays cheap.
__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "_task"))


if TYPE_CHECKING:
    from flyteplugins.shell._task import ShellOutputError as ShellOutputError
    from flyteplugins.shell._task import ShellTask as ShellTask
    from flyteplugins.shell._task import ShellTaskError as ShellTaskError
