"""The ``Pod`` plugin config, and ``PodTemplate`` (``flyte.PodTemplate``, kept under this module's old
name too): what a user writes. Light: no kubernetes import here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from flyte._pod import PodTemplate
from flyte.errors import InvalidParameterError

__all__ = ["GpuFallback", "Pod", "PodTemplate", "pod_options", "pod_template_of"]

GpuFallback = Literal["error", "cpu"]


@dataclass(kw_only=True)
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
            "Use flyte.PodTemplate(pod_spec=..., primary_container_name=...).",
        )
    return PodTemplate()


def pod_options(task: Any) -> Pod:
    """The local-run options of a task (its ``Pod`` plugin config or pod template, else defaults)."""
    for candidate in (getattr(task, "plugin_config", None), getattr(task, "pod_template", None)):
        if isinstance(candidate, Pod):
            return candidate
    return Pod()
