"""Accelerators written as flyte 2.12.1 code writes them (AMD_GPU, Neuron, HABANA_GAUDI, APPLE_SILICON,
accelerator strings) become the resource names the vendors' Kubernetes device plugins advertise, and
the scheduling settings of TaskEnvironment reach the pod."""

from __future__ import annotations

from typing import Any

import flyte
import pytest
from flyte.errors import AppleSiliconNotAvailableError
from flyteplugins.pod import Pod

IMAGE = "ghcr.io/example/train:1.0"


def _pod(name: str, gpu: Any = None, **env: Any) -> dict[str, Any]:
    environment = flyte.TaskEnvironment(
        name, image=IMAGE, resources=flyte.Resources(cpu=2, memory="8Gi", gpu=gpu), plugin_config=Pod(), **env
    )

    async def infer(x: int) -> int:
        return x

    pod = environment.task(infer).spec().k8s_pod
    assert pod is not None
    return pod


def _primary_limits(pod: dict[str, Any]) -> dict[str, str]:
    primary = next(c for c in pod["spec"]["containers"] if c["name"] == "primary")
    return {k: v for k, v in primary["resources"]["limits"].items() if k not in ("cpu", "memory")}


@pytest.mark.parametrize(
    ("gpu", "resource", "count"),
    [
        (flyte.AMD_GPU("MI300X"), "amd.com/gpu", "1"),
        ("MI250X:1", "amd.com/gpu", "1"),
        (flyte.Neuron("Trn1"), "aws.amazon.com/neuron", "1"),
        ("Inf2:12", "aws.amazon.com/neuron", "12"),
        ("Trn2:16", "aws.amazon.com/neuron", "16"),
        (flyte.HABANA_GAUDI("Gaudi1"), "habana.ai/gaudi", "1"),
    ],
)
def test_vendor_accelerators_map_to_their_device_plugin_resource(gpu: Any, resource: str, count: str) -> None:
    pod = _pod(f"vendor-{resource.split('/')[0].replace('.', '-')}-{count}", gpu)
    assert _primary_limits(pod) == {resource: count}
    assert {"key": resource, "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    assert "nvidia.com/gpu" not in str(pod)


def test_apple_silicon_cannot_become_a_pod() -> None:
    with pytest.raises(AppleSiliconNotAvailableError, match="AppleSilicon"):
        _pod("apple-pod", flyte.APPLE_SILICON())


def test_service_account_becomes_the_pods_account() -> None:
    pod = _pod("sa-pod", None, service_account="trainer")
    assert pod["spec"]["serviceAccountName"] == "trainer"
    assert "serviceAccountName" not in _pod("no-sa-pod", None)["spec"]
