"""Accelerator requests (``flyte.Device``) as Kubernetes resources, node selectors and tolerations.

Conventions (checked against the Kubernetes, NVIDIA device-plugin and GKE documentation):

- NVIDIA GPUs: extended resource ``nvidia.com/gpu`` in ``limits``; the model is chosen with GKE's
  ``cloud.google.com/gke-accelerator`` node label (values as GKE names them: ``nvidia-tesla-t4``,
  ``nvidia-l4``, ``nvidia-tesla-a100``, ``nvidia-a100-80gb``, ``nvidia-h100-80gb``,
  ``nvidia-h200-141gb``, ...). Models GKE does not offer keep the same ``nvidia-<model>`` form.
  GPU nodes carry the taint ``nvidia.com/gpu=present:NoSchedule``, hence the toleration.
- Shared GPUs (``"T4 shared"``): the base model plus GKE's time-sharing selector.
- MIG partitions: the NVIDIA device plugin's "mixed" strategy resources ``nvidia.com/mig-<profile>``
  (e.g. ``nvidia.com/mig-1g.5gb``), on the parent model's nodes.
- TPUs: ``google.com/tpu`` (chips on the node) with ``cloud.google.com/gke-tpu-accelerator``
  (``tpu-v5-lite-podslice``, ``tpu-v5p-slice``, ``tpu-v6e-slice``) and
  ``cloud.google.com/gke-tpu-topology``; TPU nodes are tainted ``google.com/tpu``.
- AWS Neuron ``aws.amazon.com/neuron``, AMD ``amd.com/gpu``, Intel Gaudi ``habana.ai/gaudi``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
GKE_GPU_SHARING_LABEL = "cloud.google.com/gke-gpu-sharing-strategy"
GKE_TPU_ACCELERATOR_LABEL = "cloud.google.com/gke-tpu-accelerator"
GKE_TPU_TOPOLOGY_LABEL = "cloud.google.com/gke-tpu-topology"

NVIDIA_GPU = "nvidia.com/gpu"
GOOGLE_TPU = "google.com/tpu"

# flyte GPU model -> node label value (GKE's accelerator names where GKE offers the model).
GPU_LABEL_VALUES: dict[str, str] = {
    "T4": "nvidia-tesla-t4",
    "L4": "nvidia-l4",
    "V100": "nvidia-tesla-v100",
    "A100": "nvidia-tesla-a100",
    "A100_80G": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
    "H200": "nvidia-h200-141gb",
    "B200": "nvidia-b200",
    "RTX_PRO_6000": "nvidia-rtx-pro-6000",
    # Not offered by GKE: the same naming, for clusters that label nodes this way.
    "A2": "nvidia-a2",
    "A10": "nvidia-a10",
    "A10G": "nvidia-a10g",
    "L40s": "nvidia-l40s",
    "RTX_PRO_4500": "nvidia-rtx-pro-4500",
    "GB10": "nvidia-gb10",
}

TPU_LABEL_VALUES: dict[str, str] = {
    "V5E": "tpu-v5-lite-podslice",
    "V5P": "tpu-v5p-slice",
    "V6E": "tpu-v6e-slice",
}
# The smallest slice, used when a TPU request names no topology.
TPU_DEFAULT_TOPOLOGY: dict[str, str] = {"V5E": "1x1", "V5P": "2x2x1", "V6E": "1x1"}
# Chips one node (TPU VM) holds: a slice with more chips spans several hosts, 4 chips each.
TPU_MAX_CHIPS_PER_HOST: dict[str, int] = {"V5E": 8, "V5P": 4, "V6E": 8}
TPU_CHIPS_PER_HOST_MULTI = 4

OTHER_RESOURCES: dict[str, str] = {
    "NEURON": "aws.amazon.com/neuron",
    "AMD_GPU": "amd.com/gpu",
    "HABANA_GAUDI": "habana.ai/gaudi",
}


@dataclass
class AcceleratorPlacement:
    """What a pod needs for an accelerator: container limits, node selector and tolerations."""

    limits: dict[str, str] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)


def _toleration(key: str) -> dict[str, str]:
    return {"key": key, "operator": "Exists", "effect": "NoSchedule"}


def tpu_topology(device: Any) -> str:
    return str(device.partition or TPU_DEFAULT_TOPOLOGY[device.device])


def tpu_chips_per_host(device: Any) -> int:
    """``google.com/tpu`` for one pod: every chip of a single-host slice, else one host's 4 chips."""
    chips = math.prod(int(n) for n in tpu_topology(device).split("x"))
    return chips if chips <= TPU_MAX_CHIPS_PER_HOST[device.device] else TPU_CHIPS_PER_HOST_MULTI


def placement(device: Any, accelerator_label: str = GKE_ACCELERATOR_LABEL) -> AcceleratorPlacement:
    """Resources, node selector and tolerations for a ``flyte.Device`` (None-free input)."""
    p = AcceleratorPlacement()
    cls = device.device_class
    if cls == "GPU":
        model = device.device
        if device.partition is not None:
            p.limits[f"nvidia.com/mig-{device.partition}"] = str(device.quantity)
        else:
            p.limits[NVIDIA_GPU] = str(device.quantity)
        if model is not None:
            base, shared = (model[: -len(" shared")], True) if model.endswith(" shared") else (model, False)
            base = "L40s" if base == "L40S" else base  # "L40S shared" shares the L40s nodes
            p.node_selector[accelerator_label] = GPU_LABEL_VALUES.get(base, "nvidia-" + base.lower())
            if shared:
                p.node_selector[GKE_GPU_SHARING_LABEL] = "time-sharing"
        p.tolerations.append(_toleration(NVIDIA_GPU))
    elif cls == "TPU":
        p.limits[GOOGLE_TPU] = str(tpu_chips_per_host(device))
        p.node_selector[GKE_TPU_ACCELERATOR_LABEL] = TPU_LABEL_VALUES[device.device]
        p.node_selector[GKE_TPU_TOPOLOGY_LABEL] = tpu_topology(device)
        p.tolerations.append(_toleration(GOOGLE_TPU))
    elif cls == "APPLE_SILICON":
        from flyte.errors import AppleSiliconNotAvailableError

        raise AppleSiliconNotAvailableError(
            "gpu='AppleSilicon' is the Metal GPU of a local Apple Silicon Mac; Kubernetes pods cannot "
            "request it. Run the task locally on the Mac, or ask for a cluster accelerator "
            "(e.g. flyte.GPU('A100', 1) or flyte.AMD_GPU('MI300X'))."
        )
    else:
        resource = OTHER_RESOURCES[cls]
        p.limits[resource] = str(device.quantity)
        p.tolerations.append(_toleration(resource))
    return p


def accelerator_resource_names(limits: dict[str, Any]) -> list[str]:
    """The accelerator keys among a container's limits (GPU, MIG, TPU and the others)."""
    known = {NVIDIA_GPU, GOOGLE_TPU, *OTHER_RESOURCES.values()}
    return [k for k in limits if k in known or k.startswith("nvidia.com/mig-")]
