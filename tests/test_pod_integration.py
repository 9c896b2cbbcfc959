"""Core + the pod plugin installed with every other package: discovery, a workflow mixing Python and
pod tasks run as real pods (``podman kube play``), and the CLI (``flyte run``, ``flyte serialize``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from flyte.cli.main import cli

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("flyte_home")]  # flyte.testing

pod = pytest.importorskip("flyteplugins.pod")

REPO = Path(__file__).resolve().parents[1]
PY_IMAGE = "localhost/flyte-python:test"

APP = """
    import os
    import flyte
    from flyteplugins.pod import Pod, PodTemplate

    py = flyte.TaskEnvironment(name="mix-py")
    pods = flyte.TaskEnvironment(
        name="mix-pod",
        image="localhost/flyte-python:test",
        resources=flyte.Resources(cpu=1, memory="256Mi", shm="64Mi"),
        plugin_config=Pod(pod_spec={"containers": [
            {"name": "primary"},
            {"name": "tick", "image": "localhost/flyte-busybox:test", "command": ["sleep", "3600"]},
        ]}),
    )

    @pods.task
    async def square_in_pod(x: int) -> int:
        assert os.path.exists("/run/.containerenv")
        return x * x

    @py.task
    async def total(n: int) -> int:
        return sum([await square_in_pod(i) for i in range(n)])
"""


@pytest.fixture
def podman() -> None:
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is missing on CI: .ci/run must call .ci/setup-podman.sh")
        pytest.skip("podman is not installed (run .ci/setup-podman.sh)")
    images = ("localhost/flyte-python:test", "localhost/flyte-busybox:test")
    if any(subprocess.run(["podman", "image", "exists", i]).returncode for i in images):
        subprocess.run(["bash", str(REPO / ".ci" / "build-test-images.sh")], check=True, timeout=600)


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "pod_mix_app.py"
    app.write_text(textwrap.dedent(APP))
    return app


def test_discovered_beside_the_other_plugins() -> None:
    res = CliRunner().invoke(cli, ["plugins", "--json"])
    assert res.exit_code == 0, res.output
    infos = {p["name"]: p for p in json.loads(res.output)}
    assert infos["pod"]["distribution"] == "flyte-plugin-pod"
    assert infos["pod"]["task_types"] == ["pod"] and infos["pod"]["error"] is None


def test_flyte_run_a_workflow_of_python_and_pod_tasks(tmp_path: Path, podman: None) -> None:
    app = _app(tmp_path)
    try:
        res = CliRunner().invoke(cli, ["run", "--quiet", str(app), "total", "--n", "3"])
        assert res.exit_code == 0, res.output
        assert "outputs: 5" in res.output
        name = res.output.split()[1].rstrip(":")
        shown = CliRunner().invoke(cli, ["runs", "show", name, "--json"])
        actions = json.loads(shown.output)["actions"]
        pods_run = [a for a in actions if a["task_name"] == "mix-pod.square_in_pod"]
        assert len(pods_run) == 3 and all(a["status"] == "SUCCEEDED" for a in pods_run)
        left = subprocess.run(
            ["podman", "pod", "ls", "--filter", f"label=flyte.org/run={name}", "--format", "{{.Name}}"],
            capture_output=True,
            text=True,
        )
        assert left.stdout.split() == []
    finally:
        sys.modules.pop("pod_mix_app", None)


def test_flyte_serialize_writes_the_pod_yaml(tmp_path: Path) -> None:
    app = _app(tmp_path)
    out = tmp_path / "out"
    try:
        res = CliRunner().invoke(cli, ["serialize", str(app), "--out", str(out)])
        assert res.exit_code == 0, res.output
    finally:
        sys.modules.pop("pod_mix_app", None)
    manifest = yaml.safe_load((out / "mix-pod.square_in_pod.pod.yaml").read_text())
    assert pod.validate_pod(manifest) == manifest
    assert [c["name"] for c in manifest["spec"]["containers"]] == ["primary", "tick"]
    assert not (out / "mix-py.total.pod.yaml").exists()  # a plain Python task has no pod
