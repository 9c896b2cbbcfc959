"""The pod a task becomes: golden manifests per accelerator kind, validation, opt-in paths, serialize.

Goldens live in ``golden/<case>.pod.yaml`` (regenerate on purpose with ``UPDATE_GOLDEN=1``); every
case also asserts the facts the Kubernetes / NVIDIA / GKE documentation prescribe, so a golden is
never its own only check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import flyte
import pytest
import yaml
from click.testing import CliRunner
from flyte.cli.main import cli
from flyte.errors import InvalidParameterError
from flyte.extend import SerializationContext
from flyteplugins.pod import InvalidPodSpecError, Pod, PodFunctionTask, PodTemplate, build_pod, validate_pod
from kubernetes.client import ApiClient, V1Container, V1PodSpec

GOLDEN = Path(__file__).parent / "golden"
IMAGE = "ghcr.io/example/train:1.0"
SIDECAR_SPEC = {
    "containers": [
        {"name": "primary", "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        {
            "name": "proxy",
            "image": "envoyproxy/envoy:v1.30",
            "ports": [{"containerPort": 9901}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        },
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
}


def _task(env_name: str, resources: flyte.Resources | None, **pod: Any) -> Any:
    env = flyte.TaskEnvironment(name=env_name, image=IMAGE, resources=resources, plugin_config=Pod(**pod))

    async def train(x: int) -> int:
        return x

    return env.task(train)


def _primary(pod: dict[str, Any], name: str = "primary") -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] if c["name"] == name)


def _check_golden(case: str, pod: dict[str, Any]) -> None:
    path = GOLDEN / f"{case}.pod.yaml"
    text = yaml.safe_dump(pod, sort_keys=False)
    if os.environ.get("UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} changed; regenerate on purpose with UPDATE_GOLDEN=1"


GPU_TOL = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
TPU_TOL = {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}
GKE = "cloud.google.com/gke-accelerator"
TPU_ACC = "cloud.google.com/gke-tpu-accelerator"
TPU_TOPO = "cloud.google.com/gke-tpu-topology"

# case -> (gpu request, expected accelerator limits, expected node selector, expected toleration)
ACCELERATOR_CASES: dict[str, tuple[Any, dict[str, str], dict[str, str], dict[str, str]]] = {
    "gpu-any": (2, {"nvidia.com/gpu": "2"}, {}, GPU_TOL),
    "gpu-t4": ("T4:1", {"nvidia.com/gpu": "1"}, {GKE: "nvidia-tesla-t4"}, GPU_TOL),
    "gpu-l4": ("L4:2", {"nvidia.com/gpu": "2"}, {GKE: "nvidia-l4"}, GPU_TOL),
    "gpu-a100": ("A100:1", {"nvidia.com/gpu": "1"}, {GKE: "nvidia-tesla-a100"}, GPU_TOL),
    "gpu-a100-80g": (flyte.GPU("A100 80G", 4), {"nvidia.com/gpu": "4"}, {GKE: "nvidia-a100-80gb"}, GPU_TOL),
    "gpu-h100": ("H100:8", {"nvidia.com/gpu": "8"}, {GKE: "nvidia-h100-80gb"}, GPU_TOL),
    "gpu-h200": ("H200:1", {"nvidia.com/gpu": "1"}, {GKE: "nvidia-h200-141gb"}, GPU_TOL),
    "gpu-t4-shared": (
        flyte.GPU("T4 shared", 1),
        {"nvidia.com/gpu": "1"},
        {GKE: "nvidia-tesla-t4", "cloud.google.com/gke-gpu-sharing-strategy": "time-sharing"},
        GPU_TOL,
    ),
    "mig-a100-1g5gb": (
        flyte.GPU("A100", 1, partition="1g.5gb"),
        {"nvidia.com/mig-1g.5gb": "1"},
        {GKE: "nvidia-tesla-a100"},
        GPU_TOL,
    ),
    "mig-h100-3g40gb": (
        flyte.GPU("H100", 2, partition="3g.40gb"),
        {"nvidia.com/mig-3g.40gb": "2"},
        {GKE: "nvidia-h100-80gb"},
        GPU_TOL,
    ),
    "tpu-v5e-2x4": (
        flyte.TPU("V5E", "2x4"),
        {"google.com/tpu": "8"},
        {TPU_ACC: "tpu-v5-lite-podslice", TPU_TOPO: "2x4"},
        TPU_TOL,
    ),
    "tpu-v5p-2x2x1": (
        flyte.TPU("V5P", "2x2x1"),
        {"google.com/tpu": "4"},
        {
            "cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice",
            "cloud.google.com/gke-tpu-topology": "2x2x1",
        },
        TPU_TOL,
    ),
    # A multi-host slice: each host's pod asks for that host's 4 chips.
    "tpu-v5p-4x4x4": (
        flyte.TPU("V5P", "4x4x4"),
        {"google.com/tpu": "4"},
        {
            "cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice",
            "cloud.google.com/gke-tpu-topology": "4x4x4",
        },
        TPU_TOL,
    ),
    "tpu-v6e-default": (
        flyte.TPU("V6E"),
        {"google.com/tpu": "1"},
        {TPU_ACC: "tpu-v6e-slice", TPU_TOPO: "1x1"},
        TPU_TOL,
    ),
}


@pytest.mark.parametrize("case", sorted(ACCELERATOR_CASES))
def test_accelerator_goldens(case: str) -> None:
    gpu, limits, selector, toleration = ACCELERATOR_CASES[case]
    task = _task(f"acc-{case}", flyte.Resources(cpu=4, memory="16Gi", gpu=gpu))
    pod = task.spec().k8s_pod
    primary = _primary(pod)
    res = primary["resources"]
    assert {k: v for k, v in res["limits"].items() if k not in ("cpu", "memory")} == limits
    assert res["limits"]["cpu"] == res["requests"]["cpu"] == "4"
    assert res["limits"]["memory"] == res["requests"]["memory"] == "16Gi"
    assert not set(limits) & set(res["requests"]), "extended resources go in limits only"
    assert pod["spec"].get("nodeSelector", {}) == selector
    assert pod["spec"]["tolerations"] == [toleration]
    _check_golden(case, pod)


def test_base_pod_golden_resources_env_secrets_sidecars() -> None:
    env = flyte.TaskEnvironment(
        name="etl",
        image=IMAGE,
        resources=flyte.Resources(cpu=(0.5, 2), memory=("1Gi", "4Gi"), disk="20Gi", shm="2Gi"),
        env_vars={"LOG_LEVEL": "debug"},
        secrets=["db-password", flyte.Secret("token", group="github", as_env_var="GH_TOKEN")],
        plugin_config=Pod(pod_spec=SIDECAR_SPEC, labels={"team": "data"}, annotations={"owner": "ana"}),
    )

    async def load(path: str) -> int:
        return len(path)

    task = env.task(load)
    pod = task.spec().k8s_pod
    primary = _primary(pod)
    assert primary["image"] == IMAGE
    assert primary["resources"] == {
        "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "20Gi"},
        "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "20Gi"},
    }
    assert primary["env"] == [
        {"name": "LOG_LEVEL", "value": "debug"},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"key": "db-password", "name": "db-password"}}},
        {"name": "GH_TOKEN", "valueFrom": {"secretKeyRef": {"key": "token", "name": "github"}}},
    ]
    assert {"name": "flyte-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in pod["spec"][
        "volumes"
    ]
    assert {"mountPath": "/dev/shm", "name": "flyte-shm"} in primary["volumeMounts"]
    assert {"mountPath": "/data", "name": "data"} in primary["volumeMounts"]  # the user's mount is kept
    assert [c["name"] for c in pod["spec"]["containers"]] == ["primary", "proxy"]
    assert _primary(pod, "proxy")["image"] == "envoyproxy/envoy:v1.30"
    assert pod["metadata"] == {
        "annotations": {"owner": "ana"},
        "labels": {"team": "data"},
        "name": "etl-load",
    }
    assert pod["spec"]["restartPolicy"] == "Never"
    assert "nodeSelector" not in pod["spec"] and "tolerations" not in pod["spec"]
    sctx = SerializationContext()
    assert (
        primary["command"]
        == task.container_args(sctx)
        == [
            "python",
            "-m",
            "flyteplugins.pod.entrypoint",
            "--inputs",
            sctx.input_path,
            "--outputs-path",
            sctx.output_path,
            "--task-module",
            __name__,
            "--task-name",
            "load",
        ]
    )
    spec = task.spec()
    assert spec.task_type == "pod"
    assert spec.custom_config == {"primary_container_name": "primary", "pod": pod}
    _check_golden("base-sidecar", pod)


def test_secret_values_never_in_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "hunter2-secret-value")
    env = flyte.TaskEnvironment(name="sec", image=IMAGE, secrets=["db-password"], plugin_config=Pod())

    async def t() -> None:
        return None

    dumped = json.dumps(env.task(t).spec().model_dump(mode="json"))
    assert "hunter2" not in dumped
    assert "secretKeyRef" in dumped


def test_every_golden_is_a_valid_v1_pod() -> None:
    client = ApiClient()
    files = sorted(GOLDEN.glob("*.pod.yaml"))
    assert len(files) >= len(ACCELERATOR_CASES) + 1
    for path in files:
        data = yaml.safe_load(path.read_text())
        assert validate_pod(data) == data, path.name

        class Body:
            pass

        body = Body()
        body.data = json.dumps(data)  # type: ignore[attr-defined]
        assert client.sanitize_for_serialization(client.deserialize(body, "V1Pod")) == data


# ---- the user's pod spec --------------------------------------------------------------------------
def test_v1podspec_object_and_primary_name() -> None:
    spec = V1PodSpec(
        containers=[
            V1Container(name="main", env=[{"name": "FROM_USER", "value": "1"}]),
            V1Container(name="logger", image="fluent/fluent-bit:3"),
        ],
        node_selector={GKE: "my-own-label"},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
    )
    task = _task("v1spec", flyte.Resources(gpu="T4:1"), pod_spec=spec, primary_container_name="main")
    pod = task.spec().k8s_pod
    main = _primary(pod, "main")
    assert main["image"] == IMAGE and main["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert main["env"] == [{"name": "FROM_USER", "value": "1"}]
    assert pod["spec"]["nodeSelector"] == {GKE: "my-own-label"}  # the user's selector wins
    assert [t["key"] for t in pod["spec"]["tolerations"]] == ["dedicated", "nvidia.com/gpu"]
    assert task.spec().custom_config["primary_container_name"] == "main"


def test_accelerator_label_is_configurable() -> None:
    task = _task("awslabel", flyte.Resources(gpu="A10G:1"), accelerator_label="k8s.amazonaws.com/accelerator")
    assert task.spec().k8s_pod["spec"]["nodeSelector"] == {"k8s.amazonaws.com/accelerator": "nvidia-a10g"}


@pytest.mark.parametrize(
    ("pod_spec", "fragment"),
    [
        ({"containers": [{"name": "primary", "volumeMount": []}]}, "spec.containers[0].volumeMount"),
        ({"nodeselector": {"a": "b"}}, "spec.nodeselector"),
        ({"containers": [{"name": "primary"}, {"name": "side"}]}, "container 'side' has no image"),
        ({"containers": [{"name": "primary"}, {"image": "busybox"}]}, "`name`, must not be `None`"),
    ],
)
def test_invalid_pod_specs_are_refused_naming_the_field(pod_spec: dict[str, Any], fragment: str) -> None:
    task = _task("bad", None, pod_spec=pod_spec)
    with pytest.raises(InvalidPodSpecError) as e:
        task.spec()
    assert fragment in str(e.value) and "bad.train" in str(e.value)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"primary_container_name": "Main_Container"}, "primary_container_name"),
        ({"pod_spec": "containers: []"}, "pod_spec"),
        ({"labels": {"a": 1}}, "labels"),
        ({"gpu_fallback": "gpu"}, "gpu_fallback"),
    ],
)
def test_pod_config_validated_at_definition(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as e:
        Pod(**kwargs)
    assert e.value.param == param


# ---- the three ways in ----------------------------------------------------------------------------
def test_opt_in_paths_all_give_task_type_pod() -> None:
    tmpl = PodTemplate(pod_spec=SIDECAR_SPEC)
    by_env = flyte.TaskEnvironment(name="via-env", image=IMAGE, pod_template=tmpl)
    by_config = flyte.TaskEnvironment(name="via-config", image=IMAGE, plugin_config=Pod())
    plain = flyte.TaskEnvironment(name="via-override", image=IMAGE)

    async def f(x: int) -> int:
        return x

    t_env, t_cfg, t_plain = by_env.task(f), by_config.task(f), plain.task(f)
    t_over = t_plain.override(pod_template=tmpl)
    assert (t_env.task_type, t_cfg.task_type, t_plain.task_type, t_over.task_type) == (
        "pod",
        "pod",
        "python",
        "pod",
    )
    assert isinstance(t_cfg, PodFunctionTask)
    assert t_plain.task_type == "python"  # override returns a new template
    # The same pod whichever way in: build_pod works from any template.
    for t in (t_env, t_over):
        pod = build_pod(t)
        assert [c["name"] for c in pod["spec"]["containers"]] == ["primary", "proxy"]


def test_env_and_override_pod_tasks_serialize_their_pod() -> None:
    tmpl = PodTemplate(pod_spec=SIDECAR_SPEC)
    by_env = flyte.TaskEnvironment(name="ser-env", image=IMAGE, pod_template=tmpl)
    plain = flyte.TaskEnvironment(name="ser-plain", image=IMAGE)

    async def f(x: int) -> int:
        return x

    for t in (by_env.task(f), plain.task(f).override(pod_template=tmpl)):
        spec = t.spec()
        assert spec.k8s_pod is not None and spec.custom_config["pod"] == spec.k8s_pod
        assert [c["name"] for c in spec.k8s_pod["spec"]["containers"]] == ["primary", "proxy"]


def test_hooks_import_nothing_heavy() -> None:
    code = (
        "import sys, flyteplugins.pod.hooks, flyteplugins.pod;"
        "from flyteplugins.pod import PodTemplate, Pod;"
        "mods = ('kubernetes', 'yaml', 'cloudpickle', 'flyteplugins.pod._local');"
        "heavy = [m for m in mods if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plugin_is_discovered_through_its_entry_point() -> None:
    from flyte._plugins.manager import load_plugins, task_type_entry

    state = load_plugins(reload=True)
    info = state.plugins["pod"]
    assert info.distribution == "flyte-plugin-pod" and info.error is None
    assert info.task_types == ["pod"]
    entry = task_type_entry("pod")
    assert entry.template_cls is PodFunctionTask and entry.config_type is PodTemplate


# ---- flyte serialize ------------------------------------------------------------------------------
APP = """
    import flyte
    from flyteplugins.pod import Pod, PodTemplate

    gpu = flyte.TaskEnvironment(
        name="gpu", image="ghcr.io/example/train:1.0",
        resources=flyte.Resources(cpu=(2, 4), memory="16Gi", gpu="H100:2", shm="auto"),
        plugin_config=Pod(pod_spec={"containers": [
            {"name": "primary"}, {"name": "metrics", "image": "prom/statsd-exporter:v0.26"}]}),
    )
    tpu = flyte.TaskEnvironment(name="tpu", image="ghcr.io/example/jax:1.0",
                                resources=flyte.Resources(gpu=flyte.TPU("V6E", "2x4")), plugin_config=Pod())

    @gpu.task
    async def train(epochs: int) -> float:
        return 0.1

    @tpu.task
    async def jax_step(n: int) -> int:
        return n
"""


def test_flyte_serialize_writes_valid_pod_yaml(tmp_path: Path) -> None:
    app = tmp_path / "pod_app.py"
    app.write_text(textwrap.dedent(APP))
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["serialize", str(app), "--out", str(out)])
    assert res.exit_code == 0, res.output
    train = yaml.safe_load((out / "gpu.train.pod.yaml").read_text())
    assert validate_pod(train) == train
    primary = _primary(train)
    assert primary["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert train["spec"]["nodeSelector"] == {GKE: "nvidia-h100-80gb"}
    assert {"name": "flyte-shm", "emptyDir": {"medium": "Memory"}} in train["spec"]["volumes"]
    assert [c["name"] for c in train["spec"]["containers"]] == ["primary", "metrics"]
    assert primary["command"][-4:] == ["--task-module", "pod_app", "--task-name", "train"]
    jax = yaml.safe_load((out / "tpu.jax_step.pod.yaml").read_text())
    assert _primary(jax)["resources"]["limits"] == {"google.com/tpu": "8"}
    spec = json.loads((out / "gpu.train.json").read_text())
    assert spec["task_type"] == "pod" and spec["k8s_pod"] == train
