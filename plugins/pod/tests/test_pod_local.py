"""Pod tasks run for real: ``podman kube play`` of the generated manifest inside real flyte runs.

Needs podman and the local test images (``.ci/setup-podman.sh``, ``.ci/build-test-images.sh``; the
images are built here when missing). Without podman these tests skip, except under CI, where they
fail. Nothing is mocked but, where a test says so, the presence of GPUs (``FLYTE_LOCAL_GPUS``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import flyte
import flyte._config
import flyte.errors
import pytest
from flyte.extend import SerializationContext
from flyteplugins.pod import Pod, PodTemplate, build_pod
from flyteplugins.pod import _local as local

REPO = Path(__file__).resolve().parents[3]
PY_IMAGE = "localhost/flyte-python:test"
BUSYBOX_IMAGE = "localhost/flyte-busybox:test"


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module", autouse=True)
def podman_ready() -> None:
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is missing on CI: .ci/run must call .ci/setup-podman.sh")
        pytest.skip("podman is not installed (run .ci/setup-podman.sh)")
    missing = [i for i in (PY_IMAGE, BUSYBOX_IMAGE) if _podman("image", "exists", i).returncode != 0]
    if missing:
        script = REPO / ".ci" / "build-test-images.sh"
        if not script.exists():
            pytest.fail(f"test images {missing} are missing and {script} is not there to build them")
        subprocess.run(["bash", str(script)], check=True, timeout=600)


@pytest.fixture(autouse=True)
def flyte_home(flyte_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """flyte.testing's fixture (a fresh FLYTE_HOME and settings per test), and no GPUs
    whatever this machine has (their presence is mocked where a test needs them)."""
    monkeypatch.delenv("FLYTE_GPU_FALLBACK", raising=False)
    monkeypatch.setenv("FLYTE_LOCAL_GPUS", "")
    return flyte_home


def stored_logs(home: Path, run: flyte.Run) -> dict[str, str]:
    """The logs kept in the run's store: file name -> text (every action of the run)."""
    found = {}
    for path in sorted((home / "data" / "runs" / run.name).glob("*/logs/*.log")):
        found[path.name] = path.read_text()
    return found


def run_pods(run: flyte.Run) -> list[str]:
    """Pods of a run still known to podman (running or not)."""
    out = _podman("pod", "ls", "--filter", f"label={local.RUN_LABEL}={run.name}", "--format", "{{.Name}}")
    return out.stdout.split()


SIDECAR = PodTemplate(
    pod_spec={
        "containers": [
            {"name": "primary", "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]},
            {
                "name": "web",
                "image": BUSYBOX_IMAGE,
                "command": [
                    "sh",
                    "-c",
                    "echo sidecar-started; echo sidecar-says-hi > /shared/index.html;"
                    " exec httpd -f -p 8099 -h /shared",
                ],
                "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
            },
        ],
        "volumes": [{"name": "shared", "emptyDir": {}}],
    },
    labels={"team": "tests"},
)

pod_env = flyte.TaskEnvironment(
    name="pod-local",
    image=PY_IMAGE,
    resources=flyte.Resources(cpu=1, memory="300Mi"),
    env_vars={"GREETING": "hello"},
    pod_template=SIDECAR,
)
plain_env = flyte.TaskEnvironment(name="pod-plain", image=PY_IMAGE)
small_env = flyte.TaskEnvironment(
    name="pod-small", image=PY_IMAGE, resources=flyte.Resources(cpu=1, memory="64Mi"), plugin_config=Pod()
)
gpu_env = flyte.TaskEnvironment(
    name="pod-gpu", image=PY_IMAGE, resources=flyte.Resources(gpu="T4:1"), plugin_config=Pod()
)
fallback_env = flyte.TaskEnvironment(
    name="pod-fallback",
    image=PY_IMAGE,
    resources=flyte.Resources(gpu="T4:1"),
    plugin_config=Pod(gpu_fallback="cpu"),
)


def _memory_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        if os.path.exists(path):
            text = open(path).read().strip()
            return None if text == "max" else int(text)
    return None


@pod_env.task
async def in_pod(x: int) -> dict[str, Any]:
    import socket
    import urllib.request

    body = ""
    for _ in range(100):  # the sidecar starts beside us
        try:
            body = urllib.request.urlopen("http://127.0.0.1:8099/index.html", timeout=1).read().decode()
            break
        except OSError:
            await asyncio.sleep(0.1)
    print("in-pod-log-line", x)
    return {
        "double": 2 * x,
        "greeting": os.environ["GREETING"],
        "sidecar": body.strip(),
        "hostname": socket.gethostname(),
        "memory_limit": _memory_limit(),
        "in_container": os.path.exists("/run/.containerenv"),
    }


@pod_env.task
async def parent(n: int) -> int:
    res = await in_pod(n)
    return int(res["double"]) + 1


@pod_env.task
async def fails(n: int) -> int:
    raise ValueError(f"bad input {n}")


@pod_env.task(timeout=3)
async def sleeps() -> int:
    print("sleeping now", flush=True)
    await asyncio.sleep(300)
    return 0


@pod_env.task
async def exits() -> int:
    print("about to exit", flush=True)
    os._exit(3)


@small_env.task
async def hog() -> int:
    data = bytearray(400 * 1024 * 1024)
    for i in range(0, len(data), 4096):
        data[i] = 1
    return len(data)


@plain_env.task
async def where() -> str:
    import socket

    return f"{socket.gethostname()}|{os.path.exists('/run/.containerenv')}"


@gpu_env.task
async def needs_gpu() -> str:
    return "ran"


@fallback_env.task
async def gpu_or_cpu() -> str:
    return f"ran on cpu in {os.path.exists('/run/.containerenv') and 'a pod'}"


def test_pod_with_sidecar_runs_as_real_containers(caplog: pytest.LogCaptureFixture, flyte_home: Path) -> None:
    caplog.set_level(logging.INFO, logger="flyteplugins.pod")
    run = flyte.run(in_pod, x=21)
    out = run.outputs()[0]
    assert out["double"] == 42 and out["greeting"] == "hello"
    assert out["sidecar"] == "sidecar-says-hi"  # served by the sidecar over the pod's shared network
    assert out["in_container"] is True and out["hostname"].startswith("flyte-")
    if out["memory_limit"] is not None:
        assert out["memory_limit"] == 300 * 1024 * 1024  # the manifest's limit, enforced by podman
    assert any("in-pod-log-line 21" in r.getMessage() for r in caplog.records)
    assert run_pods(run) == []  # sidecar included: nothing left
    # each container's log kept where the container plugin keeps its logs: the primary's, the sidecar's
    logs = stored_logs(flyte_home, run)
    assert "in-pod-log-line 21" in logs["attempt-0.log"]
    assert "sidecar-started" in logs["attempt-0.web.log"]


def test_pod_child_of_python_parent_and_recorded() -> None:
    run = flyte.run(parent, n=5)
    assert run.outputs()[0] == 11
    assert run_pods(run) == []


@small_env.task
async def square(x: int) -> int:
    return x * x


@plain_env.task
async def fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(square(i) for i in range(n))))


def test_concurrent_pods() -> None:
    run = flyte.run(fan_out, n=4)
    assert run.outputs()[0] == 0 + 1 + 4 + 9
    assert run_pods(run) == []


def test_user_exception_keeps_its_type() -> None:
    with pytest.raises(ValueError, match="bad input 3") as e:
        flyte.run(fails, n=3)
    run = e.value.flyte_run  # type: ignore[attr-defined]
    assert isinstance(e.value, flyte.errors.RuntimeUserError) and e.value.code == "ValueError"
    assert run_pods(run) == []


def test_oom_is_reported_as_oom_error() -> None:
    with pytest.raises(flyte.errors.OOMError, match="64Mi") as failed:
        flyte.run(hog)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run_pods(run) == []


def test_timeout_tears_the_pod_down() -> None:
    start = time.monotonic()
    with pytest.raises(flyte.errors.TaskTimeoutError) as failed:
        flyte.run(sleeps)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert time.monotonic() - start < 60
    assert run_pods(run) == []


def test_timeout_keeps_what_the_pod_logged(flyte_home: Path) -> None:
    with pytest.raises(flyte.errors.TaskTimeoutError) as failed:
        flyte.run(sleeps)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert "sleeping now" in stored_logs(flyte_home, run)["attempt-0.log"]


def test_nonzero_exit_names_the_status_and_the_last_log_lines(flyte_home: Path) -> None:
    with pytest.raises(local.PodTaskError, match=r"(?s)exited with status 3.*about to exit") as failed:
        flyte.run(exits)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run_pods(run) == []
    assert "about to exit" in stored_logs(flyte_home, run)["attempt-0.log"]


def test_override_pod_template_runs_a_python_task_in_a_pod() -> None:
    assert flyte.run(where).outputs()[0].endswith("|False")  # a plain Python task: in-process
    # A template of metadata only changes nothing locally: in process, as on the anchor.
    labelled = where.override(pod_template=PodTemplate(labels={"team": "tests"}))
    assert labelled.task_type == "pod" and flyte.run(labelled).outputs()[0].endswith("|False")
    as_pod = where.override(pod_template=Pod())  # Pod(...) asks for a real local pod
    assert as_pod.task_type == "pod"
    host, in_container = flyte.run(as_pod).outputs()[0].split("|")
    assert host.startswith("flyte-") and in_container == "True"


def test_gpu_request_refused_clearly_without_gpus() -> None:
    with pytest.raises(flyte.errors.AcceleratorUnavailableError) as e:
        flyte.run(needs_gpu)  # FLYTE_LOCAL_GPUS="" (fixture): this machine has no GPU
    run = e.value.flyte_run  # type: ignore[attr-defined]
    msg = str(e.value)
    assert "asks for 1x T4" in msg and "no GPUs" in msg and "FLYTE_GPU_FALLBACK=cpu" in msg
    assert run_pods(run) == []


@pytest.mark.parametrize(
    ("gpu", "fragment"),
    [
        (flyte.TPU("V5E", "2x4"), "asks for a TPU (V5E 2x4)"),
        (flyte.GPU("A100", 1, "1g.5gb"), "MIG partition"),
    ],
)
def test_tpu_and_mig_requests_refused_clearly(gpu: Any, fragment: str) -> None:
    t = needs_gpu.override(resources=flyte.Resources(gpu=gpu))
    with pytest.raises(
        flyte.errors.AcceleratorUnavailableError, match=r"Run it on a Kubernetes cluster"
    ) as e:
        flyte.run(t).outputs()[0]
    assert fragment in str(e.value)


def test_cpu_fallback_when_opted_in() -> None:
    with pytest.warns(RuntimeWarning, match="Running its pod on CPU"):
        run = flyte.run(gpu_or_cpu)
        assert run.outputs()[0] == "ran on cpu in a pod"


async def test_mocked_gpus_are_handed_over_as_cdi_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    # Mocked: two H100s on this machine (FLYTE_LOCAL_GPUS), their CDI spec, and a podman that takes
    # CDI devices in kube play. Everything else is the real code path.
    monkeypatch.setenv("FLYTE_LOCAL_GPUS", "2xNVIDIA H100 80GB HBM3")
    monkeypatch.setattr(local, "cdi_gpu_names", lambda: {"0", "1", "all"})
    monkeypatch.setattr(local, "_podman_version", (5, 4, 1))
    task = needs_gpu.override(resources=flyte.Resources(gpu="H100:2"))
    plan = await local.plan_accelerators(task, Pod())
    assert plan.devices == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]
    pod = build_pod(task, SerializationContext(), name="x")
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    out = local.localize(
        pod,
        primary_name="primary",
        image=PY_IMAGE,
        io_dir="/tmp",
        task_module="m",
        task_file=None,
        plan=plan,
        extra_paths=[],
    )
    assert out["spec"]["containers"][0]["resources"]["limits"] == {
        "nvidia.com/gpu=0": "1",
        "nvidia.com/gpu=1": "1",
    }
    # Asking for more than there is, or another model, is refused.
    for gpu in ("H100:4", "A100:1"):
        with pytest.raises(flyte.errors.AcceleratorUnavailableError, match="this machine has"):
            await local.plan_accelerators(needs_gpu.override(resources=flyte.Resources(gpu=gpu)), Pod())


async def test_old_podman_cannot_pass_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_LOCAL_GPUS", "T4:0")  # mocked: one T4
    monkeypatch.setattr(local, "_podman_version", (4, 3, 1))
    with pytest.raises(flyte.errors.AcceleratorUnavailableError, match=r"podman 5\.4 or newer"):
        await local.plan_accelerators(needs_gpu, Pod())


def test_missing_image_is_a_clear_error() -> None:
    t = where.override(pod_template=Pod(local_image="localhost/flyte-no-such-image:1"))
    with pytest.raises(flyte.errors.ImagePullBackOffError, match="flyte-no-such-image"):
        flyte.run(t).outputs()[0]
