"""Core + the container plugin installed with every other package: a workflow mixing a container task,
a Python task run in its image (isolation="container") and plain Python tasks, recorded like any run.

The task type and the executor are found only through the plugin's "flyte.plugins" entry point.
Needs a container runtime (CI installs podman with .ci/setup-podman.sh); the images are built
locally by .ci/build-test-images.sh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import flyte
import flyte._config
import pytest
from click.testing import CliRunner
from flyte.cli.main import cli
from flyte.io import File

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("flyte_home")]  # flyte.testing

container = pytest.importorskip("flyteplugins.container")

REPO = Path(__file__).resolve().parents[1]
BUSYBOX = os.environ.get("FLYTE_TEST_BUSYBOX_IMAGE", "localhost/flyte-busybox:test")
PYTHON = os.environ.get("FLYTE_TEST_PYTHON_IMAGE", "localhost/flyte-python:test")


@pytest.fixture(scope="module")
def runtime() -> str:
    from flyteplugins.container._runtime import find_runtime, runtime_problem

    problem = runtime_problem()
    if problem is not None:
        if os.environ.get("CI") or os.environ.get("FLYTE_REQUIRE_CONTAINER_RUNTIME"):
            pytest.fail(f"no working container runtime in CI: {problem}")
        pytest.skip(f"no working container runtime here: {problem}")
    rt = find_runtime().path
    env = dict(os.environ, PYTHON=sys.executable, BUSYBOX_IMAGE=BUSYBOX, PYTHON_IMAGE=PYTHON)
    env["FLYTE_CONTAINER_RUNTIME"] = rt
    p = subprocess.run(
        ["bash", str(REPO / ".ci" / "build-test-images.sh")], env=env, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return rt


count = container.ContainerTask(
    name="mixed_ctr.count",
    image=BUSYBOX,
    command=["sh", "-c", "grep -c {{.inputs.word}} {{.inputs.text}} > /var/outputs/hits || true"],
    inputs={"text": File, "word": str},
    outputs={"hits": int},
)

host = flyte.TaskEnvironment(name="mixed_ctr")
boxed = flyte.TaskEnvironment(name="mixed_ctr_image", image=PYTHON)


@boxed.task
async def double(n: int) -> int:
    import os as _os

    # (no `assert` here: pytest rewrites asserts in test modules, and the image has no pytest)
    if not _os.path.exists("/var/inputs/_flyte_bootstrap.py"):
        raise RuntimeError("not in the container")
    return n * 2


@host.task
async def write(lines: list[str]) -> File:
    path = Path.cwd() / "lines.txt"
    path.write_text("\n".join(lines) + "\n")
    return await File.from_local(path)


@host.task
async def pipeline(lines: list[str], word: str) -> int:
    text = await write(lines)
    hits = await count(text=text, word=word)
    return await double(hits)


def test_mixed_workflow_runs_and_is_recorded(runtime: str) -> None:
    run = flyte.with_runcontext(isolation="container").run(pipeline, lines=["a x", "b", "x x"], word="x")
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == 4

    shown = CliRunner().invoke(cli, ["runs", "show", run.name, "--json"])
    assert shown.exit_code == 0, shown.output
    actions = {a["task_name"]: a for a in json.loads(shown.output)["actions"]}
    assert set(actions) == {
        "mixed_ctr.pipeline",
        "mixed_ctr.write",
        "mixed_ctr.count",
        "mixed_ctr_image.double",
    }
    assert all(a["status"] == "SUCCEEDED" for a in actions.values())
    assert actions["mixed_ctr_image.double"]["mode"] == "container"

    left = subprocess.run(
        [runtime, "ps", "-a", "-q", "--filter", f"label=flyte.run={run.name}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert left.stdout.strip() == ""


def test_plugin_listing_shows_the_container_plugin() -> None:
    out = CliRunner().invoke(cli, ["plugins", "--json"])
    assert out.exit_code == 0, out.output
    info = {p["name"]: p for p in json.loads(out.output)}["container"]
    assert info["distribution"] == "flyte-plugin-container" and info["error"] is None
    assert info["task_types"] == ["raw-container"] and info["executors"] == ["container"]
