"""Local accelerators: discovery, matching a ``Resources(gpu=...)`` request, and assignment.

Discovery: ``FLYTE_LOCAL_GPUS`` when set (tests, or to use a subset: ``"H100:0,H100:1"``, ``"2xT4"``,
``""`` for none), else ``nvidia-smi --query-gpu=index,name,memory.total``. A worker process owns the
GPUs it was started with for its lifetime (``CUDA_VISIBLE_DEVICES``), like a pod; an action asking
for N GPUs of a type waits until N are free (idle workers holding them are stopped to free them).
A request this machine can never satisfy fails at once, or runs on CPU with a warning under
``FLYTE_GPU_FALLBACK=cpu``. MIG partitions, TPUs and other accelerator classes are refused locally.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from flyte._resources import Device


@dataclass(frozen=True)
class LocalGpu:
    index: int
    name: str
    memory_mib: int | None = None


def parse_override(text: str) -> list[LocalGpu]:
    """``"H100:0,H100:1"``, ``"2xT4"``, ``"A100"``, ``""`` -> GPUs with indices."""
    gpus: list[LocalGpu] = []
    used: set[int] = set()

    def next_index() -> int:
        i = 0
        while i in used:
            i += 1
        return i

    for tok in (t.strip() for t in text.split(",")):
        if not tok:
            continue
        m = re.fullmatch(r"(\d+)\s*[xX]\s*(.+)", tok)
        if m:
            for _ in range(int(m.group(1))):
                i = next_index()
                used.add(i)
                gpus.append(LocalGpu(i, m.group(2).strip()))
            continue
        name, sep, idx = tok.rpartition(":")
        if sep and idx.strip().isdigit() and name:
            i = int(idx)
            if i in used:
                raise ValueError(f"FLYTE_LOCAL_GPUS={text!r}: index {i} appears twice")
            used.add(i)
            gpus.append(LocalGpu(i, name.strip()))
        else:
            i = next_index()
            used.add(i)
            gpus.append(LocalGpu(i, tok))
    return gpus


def discover() -> tuple[list[LocalGpu], str]:
    """The GPUs of this machine and where that list came from (for error messages)."""
    override = os.environ.get("FLYTE_LOCAL_GPUS")
    if override is not None:
        return parse_override(override), f"FLYTE_LOCAL_GPUS={override!r}"
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return [], "no nvidia-smi on PATH"
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return [], f"nvidia-smi failed: {e}"
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0].isdigit():
            continue
        mem = parts[2].split()[0] if len(parts) > 2 and parts[2] else ""
        gpus.append(LocalGpu(int(parts[0]), parts[1], int(mem) if mem.isdigit() else None))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and all(v.strip().isdigit() for v in visible.split(",") if v.strip()):
        allowed = {int(v) for v in visible.split(",") if v.strip()}
        gpus = [g for g in gpus if g.index in allowed]
    return gpus, "nvidia-smi"


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^0-9A-Za-z]+", text.upper()) if t]


def matches(gpu_name: str, wanted: str | None) -> bool:
    """Does a local GPU (``"NVIDIA A100-SXM4-80GB"``) satisfy a requested model (``"A100_80G"``)?"""
    if wanted is None:
        return True
    want = _tokens(wanted.replace(" shared", ""))
    have = _tokens(gpu_name)
    for tok in want:
        if tok in have:
            continue
        if tok.endswith("G") and tok[:-1].isdigit() and any(h.startswith(tok) for h in have):
            continue  # "80G" in the request, "80GB" in the name
        return False
    return True


def describe(gpus: list[LocalGpu]) -> str:
    if not gpus:
        return "no GPUs"
    counts: dict[str, list[int]] = {}
    for g in gpus:
        counts.setdefault(g.name, []).append(g.index)
    return ", ".join(f"{len(ix)}x {name} (index {','.join(map(str, ix))})" for name, ix in counts.items())


def on_apple_silicon() -> bool:
    """True on an Apple Silicon Mac, whose Metal GPU a local process can use directly."""
    import platform
    import sys

    return sys.platform == "darwin" and platform.machine() == "arm64"


def apple_silicon_refusal(task: str) -> str:
    return (
        f"Task {task!r} asks for the Apple Silicon GPU (gpu='AppleSilicon'), which only an Apple "
        "Silicon Mac has: run it locally on such a Mac, or ask for a GPU this machine or a cluster "
        "has (e.g. Resources(gpu='A100:1'))."
    )


def refuse_reason(task: str, device: Device) -> str | None:
    """Why an accelerator request cannot run on any local machine, or None."""
    if device.device_class == "APPLE_SILICON":
        return None if on_apple_silicon() else apple_silicon_refusal(task)
    if device.device_class == "TPU":
        return (
            f"Task {task!r} asks for a TPU ({device.device} {device.partition or ''}). TPUs cannot be "
            "used by local runs: run it on a Flyte cluster with TPU node pools or on a Cloud TPU VM, or "
            "drop the TPU from its Resources to try it locally."
        )
    if device.partition is not None:
        return (
            f"Task {task!r} asks for a MIG partition ({device.device} {device.partition}). MIG partitions "
            "are carved out by the cluster (the NVIDIA GPU operator), not by a local run: run it on a "
            f"Flyte cluster whose nodes expose MIG devices, or ask for whole GPUs locally "
            f"(Resources(gpu='{device.device}:1'))."
        )
    if device.device_class != "GPU":
        return (
            f"Task {task!r} asks for {device.quantity}x {device.device} ({device.device_class}). Only "
            "NVIDIA GPUs are assigned by local runs: run it on a Flyte cluster with those accelerators."
        )
    return None


class GpuPool:
    """Free/busy state of the local GPUs; waiters are woken whenever GPUs are released."""

    def __init__(self, gpus: list[LocalGpu], source: str) -> None:
        self.gpus = sorted(gpus, key=lambda g: g.index)
        self.source = source
        self.free = {g.index for g in gpus}
        self.on_release: Callable[[], None] | None = None  # wakes actions waiting for GPUs

    def matching(self, device: Device) -> list[LocalGpu]:
        return [g for g in self.gpus if matches(g.name, device.device)]

    def missing_message(self, task: str, device: Device) -> str:
        want = f"{device.quantity}x {device.device or 'GPU'}"
        return (
            f"Task {task!r} asks for {want}, but this machine has {describe(self.gpus)} "
            f"(from {self.source}). Run it on a Flyte cluster with those GPUs, ask for what is here "
            "(e.g. Resources(gpu=1) for any GPU), or set FLYTE_GPU_FALLBACK=cpu to run it on CPU "
            "with a warning."
        )

    def try_take(self, device: Device) -> list[int] | None:
        """N free matching GPU indices, now, or None (the caller waits for a release)."""
        free = [g.index for g in self.matching(device) if g.index in self.free]
        if len(free) < device.quantity:
            return None
        take = free[: device.quantity]
        self.free.difference_update(take)
        return take

    def release(self, indices: list[int]) -> None:
        self.free.update(indices)
        if self.on_release is not None:
            self.on_release()

    def describe_use(self) -> str:
        return f"gpus {len(self.gpus) - len(self.free)}/{len(self.gpus)}"
