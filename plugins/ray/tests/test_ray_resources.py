"""Resources -> Ray scheduling options, and executor addresses (no cluster needed)."""

from __future__ import annotations

import flyte
import pytest
from flyte.errors import InvalidParameterError
from flyteplugins.ray import parse_address, ray_options

GiB = 1024**3


def test_cpu_and_memory_requests() -> None:
    assert ray_options(None) == {"num_cpus": 1.0}
    assert ray_options(flyte.Resources(cpu=2, memory="4Gi")) == {"num_cpus": 2.0, "memory": 4 * GiB}
    # tuples are (request, limit): Ray schedules by the request
    assert ray_options(flyte.Resources(cpu=("500m", 2), memory=("1Gi", "2Gi"))) == {
        "num_cpus": 0.5,
        "memory": 1 * GiB,
    }


@pytest.mark.parametrize(
    ("gpu", "expected"),
    [
        ("H100:2", {"num_gpus": 2, "accelerator_type": "H100"}),
        ("A100_80G:1", {"num_gpus": 1, "accelerator_type": "A100-80G"}),
        ("L4:1", {"num_gpus": 1, "accelerator_type": "L4"}),
        (2, {"num_gpus": 2}),
        (
            flyte.GPU("A100", 1, partition="3g.20gb"),
            {"num_gpus": round(3 / 7, 4), "accelerator_type": "A100"},
        ),
        ("T4 shared:1", {"num_gpus": 0.25, "accelerator_type": "T4"}),
    ],
)
def test_gpus(gpu: object, expected: dict[str, object]) -> None:
    opts = ray_options(flyte.Resources(gpu=gpu))  # type: ignore[arg-type]
    assert {k: v for k, v in opts.items() if k != "num_cpus"} == expected


def test_tpus_single_and_multi_host() -> None:
    one = ray_options(flyte.Resources(gpu=flyte.TPU("V5E", "2x4")))
    assert one["accelerator_type"] == "TPU-V5LITEPOD" and one["resources"] == {"TPU": 8}
    multi = ray_options(flyte.Resources(gpu=flyte.TPU("V5P", "2x4x4")))
    assert multi["accelerator_type"] == "TPU-V5P"
    assert multi["resources"] == {"TPU": 4, "TPU-v5p-32-head": 1}
    default = ray_options(flyte.Resources(gpu=flyte.TPU("V6E")))
    assert default["resources"] == {"TPU": 1} and default["accelerator_type"] == "TPU-V6E"


def test_addresses() -> None:
    assert parse_address("ray://head:10001").init_kwargs() == {"address": "ray://head:10001"}
    assert parse_address("ray://head").init_kwargs() == {"address": "ray://head:10001"}
    assert parse_address("ray+direct://127.0.0.2:6380").init_kwargs() == {
        "address": "127.0.0.2:6380",
        "_node_ip_address": "127.0.0.2",
    }
    assert parse_address("ray").init_kwargs() == {}
    for bad in ("ray:/x", "ray://", "rayx://h:1", "ray://h:port", "ray://h:1/path"):
        with pytest.raises(InvalidParameterError, match="executor"):
            parse_address(bad)


def test_init_rejects_a_malformed_executor_at_once() -> None:
    with pytest.raises(InvalidParameterError, match=r"executor.*ray://HOST:PORT"):
        flyte.init(executor="://nowhere")


@pytest.mark.parametrize(
    ("gpu", "expected"),
    [
        # AMD GPUs are GPUs to Ray, told apart by their accelerator type
        (flyte.AMD_GPU("MI300X"), {"num_gpus": 1, "accelerator_type": "AMD-Instinct-MI300X-OAM"}),
        ("MI250X:1", {"num_gpus": 1}),
        # Neuron cores and Gaudi HPUs are custom resources Ray's nodes advertise
        (flyte.Neuron("Trn1"), {"resources": {"neuron_cores": 1}}),
        ("Inf2:12", {"resources": {"neuron_cores": 12}}),
        (flyte.HABANA_GAUDI("Gaudi1"), {"resources": {"HPU": 1}}),
    ],
)
def test_vendor_accelerators(gpu: object, expected: dict[str, object]) -> None:
    opts = ray_options(flyte.Resources(gpu=gpu))  # type: ignore[arg-type]
    assert {k: v for k, v in opts.items() if k in expected} == expected
    if "resources" in expected:
        assert "num_gpus" not in opts


def test_amd_gpus_never_land_on_nvidia_nodes() -> None:
    opts = ray_options(flyte.Resources(gpu="MI250X:1"))
    assert opts["num_gpus"] == 1 and str(opts["accelerator_type"]).startswith("AMD-Instinct-")


def test_apple_silicon_is_refused_naming_the_task() -> None:
    from flyte.errors import AppleSiliconNotAvailableError

    with pytest.raises(AppleSiliconNotAvailableError, match=r"train.*AppleSilicon"):
        ray_options(flyte.Resources(gpu="AppleSilicon"), name="train")


@pytest.mark.parametrize(
    ("device", "constant"),
    [
        ("MI100", "AMD_INSTINCT_MI100"),
        ("MI210", "AMD_INSTINCT_MI210"),
        ("MI250", "AMD_INSTINCT_MI250"),
        ("MI250X", "AMD_INSTINCT_MI250x"),
        ("MI300X", "AMD_INSTINCT_MI300x"),
    ],
)
def test_amd_accelerator_types_are_rays_own_names(device: str, constant: str) -> None:
    accelerators = pytest.importorskip("ray.util.accelerators")
    opts = ray_options(flyte.Resources(gpu=flyte.AMD_GPU(device)))  # type: ignore[arg-type]
    assert opts["accelerator_type"] == getattr(accelerators, constant)
