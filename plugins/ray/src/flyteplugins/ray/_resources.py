"""``flyte.Resources`` as Ray scheduling options (``num_cpus``, ``memory``, ``num_gpus``, ...).

Ray schedules by logical resources: a task waits for a node that advertises what it asks for, so
these options decide on which node an action lands. Requests are used (Ray has no separate limit);
memory is Ray's logical ``memory`` resource in bytes. Accelerators:

- GPUs: ``num_gpus`` and ``accelerator_type`` (Ray's names: ``H100``, ``A100-80G``, ``RTX-PRO-6000``);
  a MIG partition ``Ng.*`` of a 7-slice GPU is the fraction N/7 of one GPU of that type; a shared GPU
  (``"T4 shared"``) is a quarter of one.
- TPUs: Ray's ``TPU`` resource (the chips one host of the slice holds) and ``accelerator_type``
  (``TPU-V5LITEPOD``, ``TPU-V5P``, ``TPU-V6E``); a multi-host slice also asks for the slice's head
  resource (``TPU-v5p-16-head``), which Ray's TPU nodes advertise on their first host.
- AWS Neuron cores, AMD GPUs and Intel Gaudi as Ray's ``neuron_cores``, ``num_gpus`` + AMD type and
  ``HPU`` resources.
"""

from __future__ import annotations

import math
from typing import Any

from flyte import Resources
from flyte.errors import InvalidParameterError

DEFAULT_CPUS = 1.0
"""What an action without a CPU request reserves (Ray's own default for a task)."""
MIG_SLICES = 7
_GPU_NAMES = {
    "A100_80G": "A100-80G",
    "RTX_PRO_6000": "RTX-PRO-6000",
    "RTX_PRO_4500": "RTX-PRO-4500",
    "L40s": "L40S",
}
_TPU_TYPES = {"V5E": "TPU-V5LITEPOD", "V5P": "TPU-V5P", "V6E": "TPU-V6E"}
_TPU_POD_NAMES = {"V5E": "v5litepod", "V5P": "v5p", "V6E": "v6e"}
_TPU_DEFAULT_TOPOLOGY = {"V5E": "1x1", "V5P": "2x2x1", "V6E": "1x1"}
_TPU_CHIPS_PER_HOST = {"V5E": 8, "V5P": 4, "V6E": 8}
# Ray's names (ray.util.accelerators) where they are not "AMD-Instinct-<model>".
_AMD_NAMES = {
    "MI250": "AMD-Instinct-MI250X-MI250",
    "MI250X": "AMD-Instinct-MI250X",
    "MI300X": "AMD-Instinct-MI300X-OAM",
}


def ray_gpu_name(device: str) -> str:
    """flyte's GPU model name as Ray's ``accelerator_type`` (``"A100_80G"`` -> ``"A100-80G"``)."""
    base = device.removesuffix(" shared")
    return _GPU_NAMES.get(base, base.replace("_", "-").replace(" ", "-"))


def tpu_chips(device: str, topology: str | None) -> int:
    """Chips in a TPU slice (``"2x2x1"`` -> 4)."""
    return math.prod(int(n) for n in (topology or _TPU_DEFAULT_TOPOLOGY[device]).split("x"))


def ray_options(resources: Resources | None, *, name: str = "task") -> dict[str, Any]:
    """Ray ``.options(...)`` for an action with these resources; ``name`` is the task, for errors."""
    opts: dict[str, Any] = {"num_cpus": DEFAULT_CPUS}
    if resources is None:
        return opts
    cpu = resources.cpu_request()
    if cpu is not None:
        opts["num_cpus"] = float(cpu)
    mem = resources.memory_request_bytes()
    if mem is not None:
        opts["memory"] = int(mem)
    dev = resources.device()
    if dev is None:
        return opts
    extra: dict[str, float] = {}
    cls = dev.device_class
    if cls == "GPU":
        if dev.device is None:
            opts["num_gpus"] = dev.quantity
        else:
            opts["accelerator_type"] = ray_gpu_name(dev.device)
            if dev.partition is not None:
                slices = int(dev.partition.split("g.", 1)[0])
                opts["num_gpus"] = round(slices / MIG_SLICES, 4)
            elif dev.device.endswith(" shared"):
                opts["num_gpus"] = 0.25
            else:
                opts["num_gpus"] = dev.quantity
    elif cls == "TPU":
        assert dev.device is not None
        chips = tpu_chips(dev.device, dev.partition)
        per_host = _TPU_CHIPS_PER_HOST[dev.device]
        extra["TPU"] = chips if chips <= per_host else 4
        opts["accelerator_type"] = _TPU_TYPES[dev.device]
        if chips > per_host:
            extra[f"TPU-{_TPU_POD_NAMES[dev.device]}-{chips}-head"] = 1
    elif cls == "NEURON":
        extra["neuron_cores"] = dev.quantity
    elif cls == "AMD_GPU":
        assert dev.device is not None
        opts["num_gpus"] = dev.quantity
        opts["accelerator_type"] = _AMD_NAMES.get(dev.device, f"AMD-Instinct-{dev.device}")
    elif cls == "HABANA_GAUDI":
        extra["HPU"] = dev.quantity
    elif cls == "APPLE_SILICON":
        from flyte.errors import AppleSiliconNotAvailableError

        raise AppleSiliconNotAvailableError(
            f"{name}: gpu='AppleSilicon' is the Metal GPU of a local Apple Silicon Mac; Ray workers "
            "cannot be scheduled on it. Run the task locally on the Mac, or ask for an accelerator "
            "Ray schedules (e.g. flyte.GPU('A100', 1), flyte.AMD_GPU('MI300X'))."
        )
    else:  # pragma: no cover - Device validates its class
        raise InvalidParameterError(
            name, "resources.gpu", dev, "Use a GPU, TPU, Neuron, AMD GPU or Gaudi device."
        )
    if extra:
        opts["resources"] = extra
    return opts
