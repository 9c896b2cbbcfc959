"""The README's example: serialized to a valid pod, and run here as real pods (CPU fallback opted in)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from flyte.cli.main import cli
from flyteplugins.pod import validate_pod

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gpu_pod.py"


def test_example_serializes_to_a_gpu_pod_with_its_sidecar(tmp_path: Path) -> None:
    try:
        res = CliRunner().invoke(cli, ["serialize", str(EXAMPLE), "--out", str(tmp_path)])
    finally:
        sys.modules.pop("gpu_pod", None)
    assert res.exit_code == 0, res.output
    pod = yaml.safe_load((tmp_path / "train_env.train_step.pod.yaml").read_text())
    assert validate_pod(pod) == pod
    primary, sidecar = pod["spec"]["containers"]
    assert (primary["name"], sidecar["name"]) == ("primary", "metrics")
    assert primary["resources"] == {
        "limits": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "20Gi", "nvidia.com/gpu": "1"},
        "requests": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "20Gi"},
    }
    assert pod["spec"]["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert {"mountPath": "/dev/shm", "name": "flyte-shm"} in primary["volumeMounts"]
    assert not (tmp_path / "driver.sweep.pod.yaml").exists()


def test_example_runs_as_real_pods(tmp_path: Path) -> None:
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is missing on CI: .ci/run must call .ci/setup-podman.sh")
        pytest.skip("podman is not installed (run .ci/setup-podman.sh)")
    env = {
        **os.environ,
        "FLYTE_HOME": str(tmp_path / "home"),
        "FLYTE_GPU_FALLBACK": "cpu",
        "FLYTE_LOCAL_GPUS": "",  # mocked: no GPU, whatever this machine has
        "FLYTE_POD_LOCAL_IMAGE": "localhost/flyte-python:test",
        "SIDECAR_IMAGE": "localhost/flyte-busybox:test",
    }
    images = ("localhost/flyte-python:test", "localhost/flyte-busybox:test")
    if any(subprocess.run(["podman", "image", "exists", i]).returncode for i in images):
        subprocess.run(["bash", str(EXAMPLE.parents[3] / ".ci" / "build-test-images.sh")], check=True)
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "{'0.1': 0.729, '0.3': 0.343}" in out.stdout
    assert "Running its pod on CPU" in out.stderr
