"""``PodTemplate`` and the ``Pod`` plugin config: what a user writes. Light: no kubernetes import here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from flyte.errors import InvalidParameterError

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

GpuFallback = Literal["error", "cpu"]


def _str_map(owner: str, param: str, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameterError(owner, param, value, "Use a dict of str to str, e.g. {'team': 'ml'}.")
    return dict(value)


@dataclass(frozen=True, kw_only=True)
class PodTemplate:
    """The pod a task runs in: your pod spec (sidecars, volumes, node selectors...) plus the task.

    - ``pod_spec``: a ``kubernetes.client.V1PodSpec`` or the same as a dict in Kubernetes (camelCase)
      form. Every container in it is kept; the one named ``primary_container_name`` (added when
      missing) runs the task, with the task's image, command, resources, env vars and secrets.
    - ``primary_container_name``: the container that runs the task (default ``"primary"``).
    - ``labels`` / ``annotations``: the pod's metadata.
    """

    pod_spec: Any = None
    primary_container_name: str = "primary"
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        name = self.primary_container_name
        if not isinstance(name, str) or len(name) > 63 or not _DNS_LABEL.match(name):
            raise InvalidParameterError(
                owner,
                "primary_container_name",
                name,
                "Use a Kubernetes container name: 1-63 lowercase letters, digits or '-', starting and "
                "ending with a letter or digit, e.g. 'primary'.",
            )
        spec = self.pod_spec
        if spec is not None and not isinstance(spec, Mapping) and type(spec).__name__ != "V1PodSpec":
            raise InvalidParameterError(
                owner,
                "pod_spec",
                spec,
                "Use a kubernetes.client.V1PodSpec, or a dict in Kubernetes form such as "
                "{'containers': [{'name': 'primary'}, {'name': 'proxy', 'image': 'envoy:1.30'}]}.",
            )
        object.__setattr__(self, "labels", _str_map(owner, "labels", self.labels))
        object.__setattr__(self, "annotations", _str_map(owner, "annotations", self.annotations))


@dataclass(frozen=True, kw_only=True)
class Pod(PodTemplate):
    """Plugin config for pod tasks: ``TaskEnvironment(plugin_config=Pod(...))``.

    Everything :class:`PodTemplate` has, plus how *local* runs behave:

    - ``gpu_fallback``: ``"error"`` (default) refuses GPU/TPU tasks on a machine without them;
      ``"cpu"`` runs them on CPU with a warning (``FLYTE_GPU_FALLBACK=cpu`` does the same for all).
    - ``local_image``: the image local runs use for the primary container instead of the task's image
      (``FLYTE_POD_LOCAL_IMAGE`` does the same for all pod tasks).
    - ``accelerator_label``: the node label that selects the GPU model (GKE's by default).
    """

    gpu_fallback: GpuFallback = "error"
    local_image: str | None = None
    accelerator_label: str = "cloud.google.com/gke-accelerator"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gpu_fallback not in ("error", "cpu"):
            raise InvalidParameterError(
                "Pod", "gpu_fallback", self.gpu_fallback, "Use 'error' (refuse) or 'cpu' (run on CPU)."
            )
        if self.local_image is not None and (not isinstance(self.local_image, str) or not self.local_image):
            raise InvalidParameterError(
                "Pod", "local_image", self.local_image, "Use an image reference such as 'localhost/app:dev'."
            )
        if not isinstance(self.accelerator_label, str) or not self.accelerator_label:
            raise InvalidParameterError(
                "Pod",
                "accelerator_label",
                self.accelerator_label,
                "Use a node label key such as 'cloud.google.com/gke-accelerator'.",
            )


def pod_template_of(task: Any) -> PodTemplate:
    """The template a task runs with: its ``pod_template``, else a ``PodTemplate`` plugin config."""
    for candidate in (getattr(task, "pod_template", None), getattr(task, "plugin_config", None)):
        if isinstance(candidate, PodTemplate):
            return candidate
    tmpl = getattr(task, "pod_template", None)
    if tmpl is not None:
        raise InvalidParameterError(
            getattr(task, "name", "task"),
            "pod_template",
            tmpl,
            "Use flyteplugins.pod.PodTemplate(pod_spec=..., primary_container_name=...).",
        )
    return PodTemplate()


def pod_options(task: Any) -> Pod:
    """The local-run options of a task (its ``Pod`` plugin config or pod template, else defaults)."""
    for candidate in (getattr(task, "plugin_config", None), getattr(task, "pod_template", None)):
        if isinstance(candidate, Pod):
            return candidate
    return Pod()
