"""``PodFunctionTask``: a Python-function task that runs in a Kubernetes pod."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, ParamSpec, TypeVar

from flyte.extend import AsyncFunctionTaskTemplate, SerializationContext
from flyteplugins.pod._manifest import build_pod, default_args
from flyteplugins.pod._template import pod_template_of

P = ParamSpec("P")
R = TypeVar("R")

TASK_TYPE = "pod"


@dataclass(kw_only=True)
class PodFunctionTask(AsyncFunctionTaskTemplate[P, R]):
    """A function task of type ``pod``: serialised as a full v1 Pod, run locally with podman.

    Built by ``TaskEnvironment(plugin_config=Pod(...))`` (or a ``PodTemplate``); plain Python tasks
    become pod tasks with ``TaskEnvironment(pod_template=...)`` or ``task.override(pod_template=...)``.
    """

    task_type: str = TASK_TYPE
    plugin_optional: ClassVar[bool] = True
    """Where this plugin is disabled the task runs in process, as the anchor's local runs do: a pod
    template matters on a cluster only."""

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        return {
            "primary_container_name": pod_template_of(self).primary_container_name,
            "pod": self.k8s_pod(sctx),
        }

    def container_args(self, sctx: SerializationContext) -> list[str]:
        args: list[str] = default_args(self, sctx)
        return args

    def k8s_pod(self, sctx: SerializationContext) -> dict[str, Any]:
        """The Kubernetes v1 Pod this task runs in (``flyte serialize`` writes it as YAML)."""
        pod: dict[str, Any] = build_pod(self, sctx)
        return pod
