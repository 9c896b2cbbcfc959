"""Compute resources a task asks for: CPU, memory, accelerators, disk and shared memory.

Everything is validated when the value is built, so a typo such as ``memory="4 gigs"`` fails where
the task is defined (naming the parameter and the accepted form), not when the runtime first needs
the number. Quantities follow Kubernetes conventions (``"500m"``, ``"512Mi"``, ``"4Gi"``, ``"1G"``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from flyte._validate import param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

__all__ = [
    "AMD_GPU",
    "APPLE_SILICON",
    "GPU",
    "HABANA_GAUDI",
    "TPU",
    "Device",
    "DeviceClass",
    "GPUType",
    "Neuron",
    "Resources",
    "TPUType",
    "parse_quantity",
]

# --------------------------------------------------------------------------------------------------
# Device catalogue (the anchor SDK's lists)
# --------------------------------------------------------------------------------------------------

GPUType = Literal[
    "A2",
    "A10",
    "A10G",
    "A100",
    "A100_80G",
    "A100 80G",
    "B200",
    "H100",
    "H200",
    "L4",
    "L40s",
    "T4",
    "V100",
    "RTX_PRO_4500",
    "RTX_PRO_6000",
    "GB10",
    "T4 shared",
    "L4 shared",
    "A10G shared",
    "A10 shared",
    "L40S shared",
]
TPUType = Literal["V5E", "V5P", "V6E"]
NeuronType = Literal["Inf1", "Inf2", "Trn1", "Trn1n", "Trn2", "Trn2u"]
AMD_GPUType = Literal["MI100", "MI210", "MI250", "MI250X", "MI300A", "MI300X", "MI325X", "MI350X", "MI355X"]
HABANA_GAUDIType = Literal["Gaudi1"]
AppleSiliconType = Literal["AppleSilicon"]
DeviceClass = Literal["GPU", "TPU", "NEURON", "AMD_GPU", "HABANA_GAUDI", "APPLE_SILICON"]
GPUQuantity = Literal[1, 2, 3, 4, 5, 6, 7, 8]

_SHARED_GPUS: tuple[str, ...] = ("T4 shared", "L4 shared", "A10G shared", "A10 shared", "L40S shared")
_GPUS: tuple[str, ...] = (
    "A2",
    "A10",
    "A10G",
    "A100",
    "A100_80G",
    "B200",
    "H100",
    "H200",
    "L4",
    "L40s",
    "T4",
    "V100",
    "RTX_PRO_4500",
    "RTX_PRO_6000",
    "GB10",
    *_SHARED_GPUS,
)
# Older spellings accepted and normalised to the current name.
_GPU_ALIASES: dict[str, str] = {"A100 80G": "A100_80G", "RTX PRO 6000": "RTX_PRO_6000"}
# The most devices of one type a node offers (the anchor's accelerator strings); 8 otherwise.
_GPU_MAX_COUNT: dict[str, int] = {
    "A2": 1,
    "RTX_PRO_4500": 1,
    "RTX_PRO_6000": 2,
    "GB10": 1,
    **dict.fromkeys(_SHARED_GPUS, 1),
}

# MIG partitions per device.
_MIG_PARTITIONS: dict[str, tuple[str, ...]] = {
    "A100": ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
    "A100_80G": ("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H100": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H200": ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
    "RTX_PRO_6000": ("1g.24gb", "2g.48gb", "4g.96gb"),
}

_TPUS: tuple[str, ...] = ("V5E", "V5P", "V6E")
_TPU_SLICES: dict[str, tuple[str, ...]] = {
    "V5E": ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
    "V5P": (
        "2x2x1",
        "2x2x2",
        "2x4x4",
        "4x4x4",
        "4x4x8",
        "4x8x8",
        "8x8x8",
        "8x8x16",
        "8x16x16",
        "16x16x16",
        "16x16x24",
    ),
    "V6E": ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
}

_NEURONS: tuple[str, ...] = ("Inf1", "Inf2", "Trn1", "Trn1n", "Trn2", "Trn2u")
_NEURON_COUNTS: dict[str, tuple[int, ...]] = {
    "Inf1": tuple(range(1, 17)),
    "Inf2": tuple(range(1, 13)),
    **dict.fromkeys(("Trn1", "Trn1n", "Trn2", "Trn2u"), (1, 4, 8, 16)),
}
_AMD_GPUS: tuple[str, ...] = (
    "MI100",
    "MI210",
    "MI250",
    "MI250X",
    "MI300A",
    "MI300X",
    "MI325X",
    "MI350X",
    "MI355X",
)
_GAUDIS: tuple[str, ...] = ("Gaudi1",)
# The Metal GPU of an Apple Silicon Mac: one per machine, usable only by a run on that Mac.
_APPLE: tuple[str, ...] = ("AppleSilicon",)

_DEVICES_BY_CLASS: dict[str, tuple[str, ...]] = {
    "GPU": _GPUS,
    "TPU": _TPUS,
    "NEURON": _NEURONS,
    "AMD_GPU": _AMD_GPUS,
    "HABANA_GAUDI": _GAUDIS,
    "APPLE_SILICON": _APPLE,
}
_DEVICE_CLASSES: tuple[str, ...] = tuple(_DEVICES_BY_CLASS)


def _device_class_of(device: str) -> DeviceClass | None:
    for cls, names in _DEVICES_BY_CLASS.items():
        if device in names:
            return cast(DeviceClass, cls)
    return None


def _join(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_count_text(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text) is not None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    """An accelerator request: its class, model, how many, and (for MIG / TPU slices) the partition.

    Built by :func:`GPU`, :func:`TPU` and friends, or from ``Resources(gpu="A100:2")``. Validated here
    as well, so a hand-built ``Device`` cannot carry an unknown model or partition either.
    ``device=None`` means "any GPU" (``Resources(gpu=2)``).
    """

    quantity: int
    device_class: DeviceClass = "GPU"
    device: str | None = None
    partition: str | None = None

    def __post_init__(self) -> None:
        if not _is_int(self.quantity) or self.quantity < 1:
            raise param_error(
                "Device",
                "quantity",
                self.quantity,
                "GPU quantity must be at least 1: use an int of at least 1 (the number of devices).",
                types=int,
            )
        if self.device_class not in _DEVICE_CLASSES:
            raise param_error(
                "Device",
                "device_class",
                self.device_class,
                f"Use one of: {_join(_DEVICE_CLASSES)}.",
                types=str,
            )
        device = self.device
        if device is None:
            if self.device_class != "GPU":
                raise InvalidParameterError(
                    "Device",
                    "device",
                    device,
                    f"Name the {self.device_class} model, one of: "
                    f"{_join(_DEVICES_BY_CLASS[self.device_class])}.",
                )
            if self.partition is not None:
                raise param_error(
                    "Device",
                    "partition",
                    self.partition,
                    "A partition needs a named device, e.g. GPU('A100', 1, partition='1g.5gb').",
                    types=str,
                )
            return
        if self.device_class == "GPU":
            device = _GPU_ALIASES.get(device, device)
            object.__setattr__(self, "device", device)
        known = _DEVICES_BY_CLASS[self.device_class]
        if device not in known:
            raise param_error(
                "Device",
                "device",
                self.device,
                f"Use a known {self.device_class} type, one of: {_join(known)}.",
                types=str,
            )
        _check_partition("Device", self.device_class, device, self.partition)
        if self.device_class == "APPLE_SILICON" and self.quantity != 1:
            raise InvalidParameterError(
                "Device",
                "quantity",
                self.quantity,
                "An Apple Silicon device is the Mac's single Metal GPU; quantity must be 1.",
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form used in task specs."""
        return {
            "device_class": self.device_class,
            "device": self.device,
            "quantity": self.quantity,
            "partition": self.partition,
        }


def _check_partition(owner: str, device_class: str, device: str, partition: object) -> None:
    if partition is None:
        return
    if device_class == "GPU":
        if device in _SHARED_GPUS:
            raise InvalidParameterError(
                owner,
                "partition",
                partition,
                f"A shared GPU takes no partition ({device}); request a plain device for MIG partitions.",
            )
        parts = _MIG_PARTITIONS.get(device)
        if parts is None:
            raise InvalidParameterError(
                owner,
                "partition",
                partition,
                f"Invalid partition for {device}: it has no MIG partitions; use partition=None, or one "
                f"of the MIG-capable devices: {_join(tuple(_MIG_PARTITIONS))}.",
            )
        if partition not in parts:
            raise param_error(
                owner,
                "partition",
                partition,
                f"Invalid partition for {device}: use one of its MIG partitions: {_join(parts)}.",
                types=str,
            )
        return
    if device_class == "TPU":
        slices = _TPU_SLICES[device]
        if partition not in slices:
            raise param_error(
                owner,
                "partition",
                partition,
                f"Invalid partition for {device}: use one of its TPU slice topologies: {_join(slices)}.",
                types=str,
            )
        return
    raise InvalidParameterError(owner, "partition", partition, f"{device_class} devices take no partition.")


def GPU(device: GPUType, quantity: GPUQuantity, partition: str | None = None) -> Device:
    """A GPU request, optionally a MIG partition (e.g. ``GPU("A100", 1, partition="1g.5gb")``)."""
    if not _is_int(quantity) or quantity < 1:
        raise InvalidParameterTypeError(
            "GPU", "quantity", quantity, "GPU quantity must be at least 1: use an int from 1 to 8."
        )
    name = _GPU_ALIASES.get(device, device) if isinstance(device, str) else device
    if not isinstance(name, str) or name not in _GPUS:
        raise param_error(
            "GPU", "device", device, f"Invalid GPU type: use one of: {_join(_GPUS)}.", types=str
        )
    limit = _GPU_MAX_COUNT.get(name, 8)
    if quantity > limit:
        raise InvalidParameterError(
            "GPU",
            "quantity",
            quantity,
            f"A {name} node offers at most {limit}; use an int from 1 to {limit} for {name}.",
        )
    _check_partition("GPU", "GPU", name, partition)
    return Device(quantity=quantity, device_class="GPU", device=name, partition=partition)


def TPU(device: TPUType, partition: str | None = None) -> Device:
    """A Google Cloud TPU request, optionally a slice topology (e.g. ``TPU("V5P", "2x2x1")``)."""
    if device not in _TPUS:
        raise param_error(
            "TPU", "device", device, f"Invalid TPU type: use one of: {_join(_TPUS)}.", types=str
        )
    _check_partition("TPU", "TPU", device, partition)
    return Device(quantity=1, device_class="TPU", device=device, partition=partition)


def Neuron(device: NeuronType) -> Device:
    """An AWS Neuron (Inferentia / Trainium) device."""
    if device not in _NEURONS:
        raise param_error(
            "Neuron", "device", device, f"Invalid Neuron type: use one of: {_join(_NEURONS)}.", types=str
        )
    return Device(quantity=1, device_class="NEURON", device=device)


def AMD_GPU(device: AMD_GPUType) -> Device:
    """An AMD Instinct GPU."""
    if device not in _AMD_GPUS:
        raise param_error(
            "AMD_GPU", "device", device, f"Invalid AMD GPU type: use one of: {_join(_AMD_GPUS)}.", types=str
        )
    return Device(quantity=1, device_class="AMD_GPU", device=device)


def HABANA_GAUDI(device: HABANA_GAUDIType) -> Device:
    """An Intel Habana Gaudi accelerator."""
    if device not in _GAUDIS:
        raise param_error(
            "HABANA_GAUDI",
            "device",
            device,
            f"Invalid Habana Gaudi type: use one of: {_join(_GAUDIS)}.",
            types=str,
        )
    return Device(quantity=1, device_class="HABANA_GAUDI", device=device)


def APPLE_SILICON() -> Device:
    """The Metal GPU of the Apple Silicon Mac a local run is on (same as ``gpu="AppleSilicon"``)."""
    return Device(quantity=1, device_class="APPLE_SILICON", device="AppleSilicon")


# --------------------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------------------

_SUFFIXES: dict[str, float] = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
_QUANTITY_RE = re.compile(r"^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([a-zA-Z]{0,2})$")

_MEMORY_ACCEPTED = (
    "Use a Kubernetes quantity string such as '512Mi', '4Gi', '1G' or '100k'; "
    "for a request/limit range use a tuple such as ('2Gi', '8Gi') with request <= limit."
)
_CPU_ACCEPTED = (
    "Use a core count such as 1 or 0.5, a string such as '500m' or '2', or a (request, limit) "
    "tuple such as (1, 4) with request <= limit."
)


def _try_parse_quantity(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _QUANTITY_RE.match(value)
        if match is None or match.group(2) not in _SUFFIXES:
            return None
        number = float(match.group(1)) * _SUFFIXES[match.group(2)]
    else:
        return None
    if math.isnan(number) or math.isinf(number) or number < 0:
        return None
    return number


def parse_quantity(s: str | int | float) -> float:
    """Parse a Kubernetes quantity (``"500m"``, ``"4Gi"``, ``"1G"``, ``2``) into base units.

    Returns cores for CPU values and bytes for memory values, e.g. ``parse_quantity("512Mi") ==
    536870912.0`` and ``parse_quantity("500m") == 0.5``.
    """
    number = _try_parse_quantity(s)
    if number is None:
        raise InvalidParameterError(
            "parse_quantity",
            "s",
            s,
            "Use a non-negative number, optionally with a Kubernetes suffix: m, k, M, G, T, P, E "
            "(decimal) or Ki, Mi, Gi, Ti, Pi, Ei (binary), e.g. '500m', '512Mi', '4Gi'.",
        )
    return number


CPUBaseType = int | float | str
MemoryBaseType = str


def _parse_cpu(value: object) -> float | None:
    """Cores for a cpu value, or None when it is not a valid cpu value."""
    if isinstance(value, str):
        if not re.fullmatch(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)m?", value):
            return None
    elif not _is_number(value):
        return None
    return _try_parse_quantity(value)


def _parse_bytes(value: object) -> float | None:
    """Bytes for a memory-like value, or None when it is not valid (milli-bytes are not)."""
    if isinstance(value, float) or (isinstance(value, str) and value.endswith("m")):
        return None
    return _try_parse_quantity(value)


def _check_range(param: str, value: object, parse: Any, accepted: str) -> None:
    """Validate a single value or a (request, limit) pair; limits (and single values) must be > 0."""
    if isinstance(value, tuple):
        if len(value) != 2:
            raise InvalidParameterError(
                "Resources", param, value, f"{param} tuple must have exactly two elements. {accepted}"
            )
        request, limit = (parse(v) for v in value)
        if request is None or limit is None or limit <= 0:
            raise InvalidParameterError("Resources", param, value, accepted)
        if request > limit:
            raise InvalidParameterError(
                "Resources",
                param,
                value,
                f"The request must not exceed the limit; swap them, e.g. {(value[1], value[0])!r}. "
                f"{accepted}",
            )
        return
    number = parse(value)
    if number is None or number <= 0:
        raise param_error("Resources", param, value, accepted, types=(int, float, str))


def _check_quantity_string(name: str, value: object) -> None:
    """memory/disk/shm take quantity strings only: an int would silently mean bytes."""
    items = value if isinstance(value, tuple) and name == "memory" else (value,)
    for item in items:
        if item is not None and not isinstance(item, str):
            raise InvalidParameterTypeError(
                "Resources",
                name,
                value,
                f"{name} must be a Kubernetes quantity string such as '1Gi', '512Mi' or '2G' "
                f"(a bare number would mean bytes: {name}=1024 is 1 KiB); write e.g. {name}='1Gi'.",
            )


def _gpu_string_to_device(spec: str) -> Device | None:
    """Device for an accelerator string like ``"A100:2"`` (count optional, default 1), or None."""
    if _is_count_text(spec):  # "1": a count of any GPU, as in Resources(cpu="4", gpu="1")
        return Device(quantity=int(spec), device_class="GPU") if int(spec) > 0 else None
    name, sep, count_text = spec.partition(":")
    name = _GPU_ALIASES.get(name, name)
    device_class = _device_class_of(name)
    if device_class is None or device_class == "TPU":
        return None
    if device_class == "APPLE_SILICON":
        return Device(quantity=1, device_class=device_class, device=name) if count_text in ("", "1") else None
    if sep:
        if not _is_count_text(count_text):
            return None
        count = int(count_text)
    else:
        count = 1
    if device_class == "GPU":
        ok = 1 <= count <= _GPU_MAX_COUNT.get(name, 8)
    elif device_class == "NEURON":
        ok = count in _NEURON_COUNTS[name]
    else:
        ok = count == 1
    if not ok:
        return None
    return Device(quantity=count, device_class=device_class, device=name)


_GPU_ACCEPTED = (
    "gpu must be one of the accelerator strings, a count >= 0, or a Device. "
    "Use an int count (e.g. 1 or '1'), a '<device>:<count>' string such as 'T4:1', 'A100:8' or 'H100:8' "
    f"(known GPUs: {_join(_GPUS)}), or flyte.GPU(...) / flyte.TPU(...) for MIG partitions and TPU slices."
)


@dataclass(frozen=True)
class Resources:
    """CPU, memory, accelerator, disk and shared-memory requirements of a task.

    - ``cpu``: cores as ``1``, ``0.5``, ``"500m"``, ``"2"``, or a ``(request, limit)`` tuple.
    - ``memory``: ``"512Mi"``, ``"4Gi"``, ``"1G"``, or a ``(request, limit)`` tuple of such strings.
      A bare int is refused, as in the anchor SDK: ``memory=1024`` would mean 1 KiB, not 1 GiB.
    - ``gpu``: an int count, ``"A100:1"``-style string, or a :class:`Device` from :func:`GPU` /
      :func:`TPU` (MIG partitions, TPU slices).
    - ``disk``: ephemeral storage quantity, e.g. ``"10Gi"``.
    - ``shm``: ``/dev/shm`` size, e.g. ``"2Gi"``, or ``"auto"`` for the node's maximum.

    A single value means request == limit.
    """

    cpu: CPUBaseType | tuple[CPUBaseType, CPUBaseType] | None = None
    memory: MemoryBaseType | tuple[MemoryBaseType, MemoryBaseType] | None = None
    gpu: str | int | Device | None = None
    disk: MemoryBaseType | None = None
    shm: MemoryBaseType | Literal["auto"] | None = None

    def __post_init__(self) -> None:
        for name in ("memory", "disk", "shm"):
            _check_quantity_string(name, getattr(self, name))
        if self.cpu is not None:
            _check_range("cpu", self.cpu, _parse_cpu, _CPU_ACCEPTED)
        if self.memory is not None:
            _check_range("memory", self.memory, _parse_bytes, _MEMORY_ACCEPTED)
        if self.disk is not None:
            number = _parse_bytes(self.disk)
            if number is None or number <= 0:
                raise InvalidParameterError(
                    "Resources",
                    "disk",
                    self.disk,
                    "Use a Kubernetes quantity string such as '10Gi'.",
                )
        if self.shm is not None and self.shm != "auto":
            number = _parse_bytes(self.shm)
            if number is None or number <= 0:
                raise InvalidParameterError(
                    "Resources",
                    "shm",
                    self.shm,
                    "Use a Kubernetes quantity string such as '2Gi', or 'auto' for the node's maximum.",
                )
        gpu = self.gpu
        if gpu is None or isinstance(gpu, Device):
            return
        if isinstance(gpu, bool) or not isinstance(gpu, (int, str)):
            raise InvalidParameterTypeError("Resources", "gpu", gpu, _GPU_ACCEPTED)
        if isinstance(gpu, int):
            if gpu < 0:
                raise InvalidParameterError(
                    "Resources", "gpu", gpu, f"gpu must be greater than or equal to 0. {_GPU_ACCEPTED}"
                )
            return
        if _is_count_text(gpu):
            return
        device = _gpu_string_to_device(gpu)
        if device is None:
            name = gpu.partition(":")[0]
            if name in _TPUS:
                hint = (
                    "gpu must be one of the accelerator strings; "
                    f"use flyte.TPU({name!r}, partition=...) for a TPU."
                )
                raise InvalidParameterError("Resources", "gpu", gpu, hint)
            raise InvalidParameterError("Resources", "gpu", gpu, _GPU_ACCEPTED)
        canonical = f"{device.device}:{device.quantity}"
        if canonical != gpu and gpu.partition(":")[0] in _GPU_ALIASES:
            object.__setattr__(self, "gpu", canonical)

    # ---- helpers for the runtime -----------------------------------------------------------------

    def cpu_request(self) -> float | None:
        """Requested cores (the single value, or the request of a tuple)."""
        return self._pick(self.cpu, _parse_cpu, 0)

    def cpu_limit(self) -> float | None:
        """Core limit (the single value, or the limit of a tuple); None when unset."""
        return self._pick(self.cpu, _parse_cpu, 1)

    def memory_request_bytes(self) -> int | None:
        """Requested memory in bytes; None when unset."""
        number = self._pick(self.memory, _parse_bytes, 0)
        return None if number is None else math.ceil(number)

    def memory_limit_bytes(self) -> int | None:
        """Memory limit in bytes (the request when no separate limit is given); None when unset."""
        number = self._pick(self.memory, _parse_bytes, 1)
        return None if number is None else math.ceil(number)

    def disk_bytes(self) -> int | None:
        """Ephemeral disk in bytes; None when unset."""
        number = None if self.disk is None else _parse_bytes(self.disk)
        return None if number is None else math.ceil(number)

    def shm_bytes(self) -> int | None:
        """Shared memory in bytes; None when unset or ``"auto"``."""
        if self.shm is None or self.shm == "auto":
            return None
        number = _parse_bytes(self.shm)
        return None if number is None else math.ceil(number)

    def gpu_count(self) -> int:
        """How many accelerators are requested (0 when none)."""
        device = self.device()
        return 0 if device is None else device.quantity

    def device(self) -> Device | None:
        """The accelerator request as a :class:`Device`; None when none (including ``gpu=0``)."""
        gpu = self.gpu
        if gpu is None or isinstance(gpu, Device):
            return gpu
        if isinstance(gpu, int):
            return None if gpu == 0 else Device(quantity=gpu, device_class="GPU")
        return _gpu_string_to_device(gpu)

    def get_device(self) -> Device | None:
        """Anchor-compatible alias of :meth:`device`."""
        return self.device()

    def get_shared_memory(self) -> str | None:
        """Shared memory as the anchor reports it: None unset, ``""`` for auto, else the quantity."""
        if self.shm is None:
            return None
        if self.shm == "auto":
            return ""
        return str(self.shm)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for task specs; only set fields, tuples as ``{"request", "limit"}``."""
        out: dict[str, Any] = {}
        for name in ("cpu", "memory"):
            value = getattr(self, name)
            if isinstance(value, tuple):
                out[name] = {"request": value[0], "limit": value[1]}
            elif value is not None:
                out[name] = value
        device = self.device()
        if device is not None:
            out["gpu"] = device.to_dict()
        if self.disk is not None:
            out["disk"] = self.disk
        if self.shm is not None:
            out["shm"] = self.shm
        return out

    @staticmethod
    def _pick(value: object, parse: Any, index: int) -> float | None:
        if value is None:
            return None
        chosen = value[index] if isinstance(value, tuple) else value
        number: float | None = parse(chosen)
        return number
