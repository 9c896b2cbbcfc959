"""Accelerator helpers as flyte 2.12.1 code calls them: signatures, the device each builds, the
string forms ``Resources(gpu=...)`` accepts, their validation, and what a local run does with them."""

from __future__ import annotations

import sys
from typing import Any

import flyte
import pytest
from flyte.errors import AcceleratorUnavailableError, AppleSiliconNotAvailableError, InvalidParameterError


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        (flyte.GPU(device="A100", quantity=2), ("GPU", "A100", 2, None)),
        (flyte.GPU("H100", 1, partition="1g.10gb"), ("GPU", "H100", 1, "1g.10gb")),
        (flyte.GPU("RTX_PRO_6000", 2), ("GPU", "RTX_PRO_6000", 2, None)),
        (flyte.GPU("L4 shared", 1), ("GPU", "L4 shared", 1, None)),
        (flyte.TPU(device="V5E", partition="2x4"), ("TPU", "V5E", 1, "2x4")),
        (flyte.TPU("V6E"), ("TPU", "V6E", 1, None)),
        (flyte.Neuron(device="Inf2"), ("NEURON", "Inf2", 1, None)),
        (flyte.AMD_GPU(device="MI355X"), ("AMD_GPU", "MI355X", 1, None)),
        (flyte.HABANA_GAUDI(device="Gaudi1"), ("HABANA_GAUDI", "Gaudi1", 1, None)),
        (flyte.APPLE_SILICON(), ("APPLE_SILICON", "AppleSilicon", 1, None)),
    ],
)
def test_helpers_build_the_anchor_devices(device: flyte.Device, expected: tuple[Any, ...]) -> None:
    assert (device.device_class, device.device, device.quantity, device.partition) == expected
    assert isinstance(device, flyte.Device)
    assert flyte.Resources(gpu=device).device() == device


def test_old_gpu_spellings_are_normalised() -> None:
    assert flyte.GPU("A100 80G", 1).device == "A100_80G"
    assert flyte.Resources(gpu="RTX PRO 6000:1").device() == flyte.GPU("RTX_PRO_6000", 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A100:2", flyte.Device(2, "GPU", "A100")),
        ("T4", flyte.Device(1, "GPU", "T4")),  # the count defaults to one
        ("1", flyte.Device(1, "GPU")),
        ("H200:8", flyte.Device(8, "GPU", "H200")),
        ("T4 shared:1", flyte.Device(1, "GPU", "T4 shared")),
        ("Inf1:16", flyte.Device(16, "NEURON", "Inf1")),
        ("Trn2u:8", flyte.Device(8, "NEURON", "Trn2u")),
        ("MI300X:1", flyte.Device(1, "AMD_GPU", "MI300X")),
        ("Gaudi1:1", flyte.Device(1, "HABANA_GAUDI", "Gaudi1")),
        ("AppleSilicon", flyte.Device(1, "APPLE_SILICON", "AppleSilicon")),
        ("AppleSilicon:1", flyte.Device(1, "APPLE_SILICON", "AppleSilicon")),
    ],
)
def test_accelerator_strings(text: str, expected: flyte.Device) -> None:
    assert flyte.Resources(gpu=text).device() == expected


@pytest.mark.parametrize(
    "text",
    [
        "A2:2",
        "T4:9",
        "T4 shared:2",
        "Inf1:17",
        "Trn1:2",
        "MI300X:2",
        "Gaudi1:2",
        "AppleSilicon:2",
        "V5E:1",
        "X:1",
    ],
)
def test_accelerator_strings_the_anchor_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="gpu must be one of") as exc:
        flyte.Resources(gpu=text)
    assert isinstance(exc.value, InvalidParameterError) and exc.value.param == "gpu"


@pytest.mark.parametrize(
    ("build", "phrase"),
    [
        (lambda: flyte.GPU("A100", 0), "GPU quantity must be at least 1"),
        (lambda: flyte.GPU("Z9", 1), "Invalid GPU type"),
        (lambda: flyte.GPU("A100", 1, partition="1g.10gb"), "Invalid partition for A100"),
        (lambda: flyte.GPU("H100", 1, partition="1g.5gb"), "Invalid partition for H100"),
        (lambda: flyte.GPU("L4 shared", 1, partition="1g.5gb"), "A shared GPU takes no partition"),
        (lambda: flyte.TPU("V4"), "Invalid TPU type"),
        (lambda: flyte.TPU("V5P", "1x1"), "Invalid partition for V5P"),
        (lambda: flyte.TPU("V6E", "2x2x1"), "Invalid partition for V6E"),
        (lambda: flyte.Neuron("Trn3"), "Invalid Neuron type"),
        (lambda: flyte.AMD_GPU("MI50"), "Invalid AMD GPU type"),
        (lambda: flyte.HABANA_GAUDI("Gaudi3"), "Invalid Habana Gaudi type"),
        (lambda: flyte.Device(0, "GPU"), "GPU quantity must be at least 1"),
        (lambda: flyte.Device(2, "APPLE_SILICON", "AppleSilicon"), "quantity must be 1"),
    ],
)
def test_helper_validation_matches_the_anchor(build: Any, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase) as exc:
        build()
    assert isinstance(exc.value, InvalidParameterError)


def test_devices_in_specs() -> None:
    env = flyte.TaskEnvironment("acc-spec", resources=flyte.Resources(gpu=flyte.AMD_GPU("MI300X")))

    @env.task
    async def infer() -> None: ...

    resources = infer.spec().resources
    assert resources is not None
    assert resources["gpu"] == {
        "device_class": "AMD_GPU",
        "device": "MI300X",
        "quantity": 1,
        "partition": None,
    }


def test_vendor_accelerators_are_refused_by_local_runs_with_the_reason() -> None:
    env = flyte.TaskEnvironment("acc-neuron", resources=flyte.Resources(gpu=flyte.Neuron("Trn1")))

    @env.task
    async def train() -> int:
        return 1

    with pytest.raises(AcceleratorUnavailableError, match="NEURON"):
        flyte.run(train).outputs()[0]


@pytest.mark.skipif(sys.platform == "darwin", reason="an Apple Silicon Mac runs it")
def test_apple_silicon_off_a_mac_fails_with_the_anchor_error() -> None:
    env = flyte.TaskEnvironment("acc-apple", resources=flyte.Resources(gpu="AppleSilicon"))

    @env.task
    async def metal() -> int:
        return 1

    with pytest.raises(AppleSiliconNotAvailableError, match="Apple Silicon"):
        flyte.run(metal).outputs()[0]
