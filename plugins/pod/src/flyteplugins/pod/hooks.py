"""Entry point of the pod plugin (``[project.entry-points."flyte.plugins"] pod = ...``).

Imports nothing but the hook marker: the task class, the kubernetes client and the podman backend
are imported when flyte asks for registrations or runs a pod task.
"""

from __future__ import annotations

from typing import Any

from flyte.extend import hookimpl


@hookimpl
def flyte_register_task_types(registry: Any) -> None:
    from flyteplugins.pod._local import PodBackend
    from flyteplugins.pod._task import TASK_TYPE, PodFunctionTask
    from flyteplugins.pod._template import PodTemplate

    # config_type=PodTemplate: plugin_config=Pod(...) (a PodTemplate subclass) builds PodFunctionTask.
    # The backend runs every task of type "pod" (also plain function tasks given a pod_template).
    registry.add(TASK_TYPE, 0, PodFunctionTask, config_type=PodTemplate, backend=PodBackend)
