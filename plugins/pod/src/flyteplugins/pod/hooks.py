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
    # function_field="pod_template": a plain function task given a pod_template becomes a pod task too
    # (TaskEnvironment(pod_template=...), task.override(pod_template=...)); the backend runs them all.
    registry.add(
        TASK_TYPE,
        0,
        PodFunctionTask,
        config_type=PodTemplate,
        backend=PodBackend,
        function_field="pod_template",
    )
