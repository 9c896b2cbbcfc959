"""Resources, GPU/TPU devices and quantity parsing: valid forms and definition-time errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flyte._resources import GPU, TPU, Device, Neuron, Resources, parse_quantity
from flyte.errors import InvalidParameterError


def _expect(exc: pytest.ExceptionInfo[InvalidParameterError], param: str, value: Any, hint: str) -> None:
    """The message names the parameter and the given value, and suggests the accepted form."""
    err = exc.value
    assert isinstance(err, ValueError)
    assert err.param == param
    assert err.value == value
    text = str(err)
    assert f"{param}={value!r}" in text
    assert hint in text


# ---- quantities ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        ("0.5", 0.5),
        ("512Mi", 512 * 2**20),
        ("4Gi", 4 * 2**30),
        ("1G", 1e9),
        ("100k", 1e5),
        ("1Ti", 2.0**40),
        (3, 3.0),
        (1.5, 1.5),
    ],
)
def test_parse_quantity(text: str | int | float, expected: float) -> None:
    assert parse_quantity(text) == pytest.approx(expected)


@pytest.mark.parametrize("bad", ["4 gigs", "", "Gi", "-1Gi", "1KB", "1e3x", True])
def test_parse_quantity_rejects(bad: Any) -> None:
    with pytest.raises(InvalidParameterError):
        parse_quantity(bad)


# ---- valid Resources ----------------------------------------------------------------------------


def test_seed_examples() -> None:
    Resources(cpu=2, memory="4Gi")
    Resources(cpu=4, memory="16Gi", gpu="T4:1")
    Resources(cpu=2, memory="4Gi", disk="10Gi", shm="2Gi")
    Resources(cpu=(1, 4), memory=("2Gi", "8Gi"))
    Resources(cpu="1", memory="1Gi")
    assert Resources(cpu="4", gpu="1").gpu_count() == 1
    assert Resources(gpu="0").device() is None
    Resources(gpu="A100:1")
    Resources(gpu=GPU(device="A100", quantity=1, partition="1g.5gb"))
    Resources(gpu=TPU(device="V5P", partition="2x2x1"))
    Resources(shm="auto")


def test_cpu_forms() -> None:
    assert Resources(cpu="500m").cpu_limit() == pytest.approx(0.5)
    assert Resources(cpu=0.25).cpu_limit() == pytest.approx(0.25)
    r = Resources(cpu=(1, "4"))
    assert r.cpu_request() == 1.0
    assert r.cpu_limit() == 4.0
    assert Resources().cpu_limit() is None


def test_memory_helpers() -> None:
    r = Resources(memory=("2Gi", "8Gi"))
    assert r.memory_request_bytes() == 2 * 2**30
    assert r.memory_limit_bytes() == 8 * 2**30
    single = Resources(memory="512Mi")
    assert single.memory_request_bytes() == single.memory_limit_bytes() == 512 * 2**20
    assert Resources(memory="1024").memory_limit_bytes() == 1024
    assert Resources(memory="1G").memory_limit_bytes() == 10**9
    assert Resources().memory_limit_bytes() is None
    assert Resources(disk="10Gi").disk_bytes() == 10 * 2**30
    assert Resources(shm="2Gi").shm_bytes() == 2 * 2**30
    assert Resources(shm="auto").shm_bytes() is None


def test_gpu_forms() -> None:
    assert Resources().gpu_count() == 0
    assert Resources().device() is None
    assert Resources(gpu=0).device() is None
    assert Resources(gpu=2).gpu_count() == 2
    assert Resources(gpu=2).device() == Device(quantity=2, device_class="GPU")
    d = Resources(gpu="H100:8").device()
    assert d is not None and (d.device, d.quantity, d.device_class) == ("H100", 8, "GPU")
    assert Resources(gpu=GPU("H200", 2, partition="3g.71gb")).gpu_count() == 2
    tpu = Resources(gpu=TPU("V6E", "4x4")).device()
    assert tpu is not None and tpu.device_class == "TPU" and tpu.partition == "4x4"
    assert Resources(gpu="Trn1:16").device() == Device(16, "NEURON", "Trn1")
    assert Neuron("Inf2").device_class == "NEURON"


def test_a100_80g_spellings() -> None:
    assert GPU("A100 80G", 1).device == "A100_80G"
    assert GPU("A100_80G", 1, partition="1g.10gb").partition == "1g.10gb"
    r = Resources(gpu="A100 80G:2")
    assert r.gpu == "A100_80G:2"
    assert r == Resources(gpu="A100_80G:2")


def test_to_dict_is_json() -> None:
    r = Resources(cpu=(1, 4), memory="4Gi", gpu=GPU("A100", 1, "1g.5gb"), disk="10Gi", shm="auto")
    d = r.to_dict()
    json.dumps(d)
    assert d["cpu"] == {"request": 1, "limit": 4}
    assert d["memory"] == "4Gi"
    assert d["gpu"] == {"device_class": "GPU", "device": "A100", "quantity": 1, "partition": "1g.5gb"}
    assert Resources().to_dict() == {}


def test_frozen_and_hashable() -> None:
    r = Resources(cpu=1)
    with pytest.raises(AttributeError):
        r.cpu = 2  # type: ignore[misc]
    assert hash(r) == hash(Resources(cpu=1))


# ---- errors named in the brief ------------------------------------------------------------------


def test_memory_4_gigs() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Resources(memory="4 gigs")
    _expect(exc, "memory", "4 gigs", "'4Gi'")
    assert str(exc.value).startswith("Resources: invalid memory='4 gigs'.")


def test_cpu_request_above_limit() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Resources(cpu=(4, 1))
    _expect(exc, "cpu", (4, 1), "(1, 4)")
    assert "request" in str(exc.value) and "limit" in str(exc.value)


def test_memory_request_above_limit() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Resources(memory=("8Gi", "2Gi"))
    _expect(exc, "memory", ("8Gi", "2Gi"), "('2Gi', '8Gi')")


def test_unknown_gpu_type_string() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Resources(gpu="X999:1")
    _expect(exc, "gpu", "X999:1", "'A100:8'")


def test_unknown_gpu_type_helper() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        GPU("X999", 1)  # type: ignore[arg-type]
    _expect(exc, "device", "X999", "H100")


def test_unknown_mig_partition() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        GPU("A100", 1, partition="9g.99gb")
    _expect(exc, "partition", "9g.99gb", "1g.5gb")
    # A partition valid for another device is still rejected for this one.
    with pytest.raises(InvalidParameterError) as exc2:
        GPU("H100", 1, partition="1g.5gb")
    _expect(exc2, "partition", "1g.5gb", "1g.10gb")


def test_partition_on_non_mig_device() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        GPU("T4", 1, partition="1g.5gb")
    _expect(exc, "partition", "1g.5gb", "partition=None")


def test_bad_tpu_topology() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        TPU("V5P", partition="3x3")
    _expect(exc, "partition", "3x3", "2x2x1")
    with pytest.raises(InvalidParameterError) as exc2:
        TPU("V5E", partition="2x2x1")
    _expect(exc2, "partition", "2x2x1", "16x16")


def test_unknown_tpu_type() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        TPU("V4", None)  # type: ignore[arg-type]
    _expect(exc, "device", "V4", "V5P")


def test_hand_built_device_is_validated() -> None:
    with pytest.raises(InvalidParameterError):
        Device(quantity=1, device_class="GPU", device="A100", partition="bogus")
    with pytest.raises(InvalidParameterError):
        Device(quantity=0)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"cpu": -1}, "cpu"),
        ({"cpu": "abc"}, "cpu"),
        ({"cpu": (1, 2, 3)}, "cpu"),
        ({"cpu": [1, 2]}, "cpu"),
        ({"cpu": True}, "cpu"),
        ({"memory": "100m"}, "memory"),
        ({"memory": 1.5}, "memory"),
        ({"memory": ("1Gi", None)}, "memory"),
        ({"gpu": -1}, "gpu"),
        ({"gpu": "A100:9"}, "gpu"),
        ({"gpu": "V5P:1"}, "gpu"),
        ({"gpu": (1, 2)}, "gpu"),
        ({"disk": "lots"}, "disk"),
        ({"shm": "max"}, "shm"),
    ],
)
def test_other_bad_values(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Resources(**kwargs)
    assert exc.value.param == param
    assert exc.value.owner == "Resources"


def test_gpu_quantity_range() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        GPU("T4", 9)  # type: ignore[arg-type]
    _expect(exc, "quantity", 9, "1 to 8")
