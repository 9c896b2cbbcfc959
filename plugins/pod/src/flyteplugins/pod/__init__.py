"""flyte-plugin-pod: tasks that run in a Kubernetes pod (GPUs, MIG, TPUs, sidecars).

    import flyte

    env = flyte.TaskEnvironment(
        name="train",
        resources=flyte.Resources(cpu=(2, 4), memory="16Gi", gpu="A100:1", shm="8Gi"),
        pod_template=flyte.PodTemplate(pod_spec={"containers": [{"name": "primary"},
                                                                {"name": "proxy", "image": "envoy:v1.30"}]}),
    )

``PodTemplate`` here is ``flyte.PodTemplate`` (kept under this name too); ``Pod`` adds local-run options.

``flyte serialize`` writes each pod task's manifest as ``<task>.pod.yaml``; ``flyte.run`` runs it as
a real pod with ``podman kube play``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_NAMES = {
    "Pod": "_template",
    "PodTemplate": "_template",
    "PodFunctionTask": "_task",
    "PodBackend": "_local",
    "InvalidPodSpecError": "_manifest",
    "build_pod": "_manifest",
    "validate_pod": "_manifest",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the hooks module (at plugin discovery) stays cheap.
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'flyteplugins.pod' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"flyteplugins.pod.{module}"), name)


if TYPE_CHECKING:
    from flyteplugins.pod._local import PodBackend as PodBackend
    from flyteplugins.pod._manifest import InvalidPodSpecError as InvalidPodSpecError
    from flyteplugins.pod._manifest import build_pod as build_pod
    from flyteplugins.pod._manifest import validate_pod as validate_pod
    from flyteplugins.pod._task import PodFunctionTask as PodFunctionTask
    from flyteplugins.pod._template import Pod as Pod
    from flyteplugins.pod._template import PodTemplate as PodTemplate
