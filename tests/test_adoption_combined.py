"""Issue 23, all kinds at once: one run with 4 process-isolated children, a Python task in a container
and a pod. The driver is SIGKILLed while every body runs; some children finish while no driver runs,
the others are still running when ``flyte.rerun(..., recover=True)`` starts. The recovered run uses
the finished ones, follows the running ones to their end, and every body runs exactly once.

Needs podman (``.ci/setup-podman.sh``; skipped here without it, a failure on CI); the test images
are built when missing (``.ci/build-test-images.sh``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("flyte_home")]  # flyte.testing

pytest.importorskip("flyteplugins.pod")
pytest.importorskip("flyteplugins.container")

RUN = "mixadopt"
PY_IMAGE = "localhost/flyte-python:test"
BUSYBOX_IMAGE = "localhost/flyte-busybox:test"

APP = """
    import asyncio
    import os

    import flyte
    from flyte.io import Dir
    from flyteplugins.pod import Pod

    IMAGE = "localhost/flyte-python:test"
    SIDE = os.environ.get("FLYTE_TEST_MIX_SIDE", "/tmp/flyte-mix-side")

    host = flyte.TaskEnvironment(name="mix_host")
    procs = flyte.TaskEnvironment(name="mix_proc", isolation="process")
    boxed = flyte.TaskEnvironment(name="mix_ctr", image=IMAGE, isolation="container")
    pods = flyte.TaskEnvironment(
        name="mix_pod",
        image=IMAGE,
        plugin_config=Pod(
            pod_spec={
                "containers": [{"name": "primary", "volumeMounts": [{"name": "side", "mountPath": "/side"}]}],
                "volumes": [{"name": "side", "hostPath": {"path": SIDE, "type": "Directory"}}],
            }
        ),
    )


    async def body(side: str, key: str) -> None:
        with open(os.path.join(side, "execs.log"), "a") as f:
            f.write(f"exec {key}\\n")
        while not os.path.exists(os.path.join(side, f"go-{key}")):
            await asyncio.sleep(0.05)
        with open(os.path.join(side, "execs.log"), "a") as f:
            f.write(f"done {key}\\n")


    @procs.task
    async def in_process(i: int) -> int:
        await body(SIDE, f"p{i}")
        return i


    @boxed.task
    async def in_container(gate: Dir) -> int:
        print("exec c", flush=True)  # the gate is mounted read-only: the log is the side effect
        while not os.path.exists(os.path.join(gate.path, "go-c")):
            await asyncio.sleep(0.05)
        return 10


    @pods.task
    async def in_pod() -> int:
        await body("/side", "pod")
        return 100


    @host.task
    async def main(gate: Dir) -> int:
        got = await asyncio.gather(*(in_process(i) for i in range(4)), in_container(gate), in_pod())
        return sum(got)
"""

KINDS = ("mix_proc.in_process", "mix_ctr.in_container", "mix_pod.in_pod")


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(autouse=True)
def podman_ready() -> None:
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is missing on CI: .ci/run must call .ci/setup-podman.sh")
        pytest.skip("podman is not installed (run .ci/setup-podman.sh)")
    if any(_podman("image", "exists", i).returncode for i in (PY_IMAGE, BUSYBOX_IMAGE)):
        script = Path(__file__).resolve().parents[1] / ".ci" / "build-test-images.sh"
        subprocess.run(["bash", str(script)], check=True, timeout=600)


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 180.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def side_log(side: Path) -> Counter[str]:
    p = side / "execs.log"
    return Counter(p.read_text().splitlines() if p.exists() else [])


def container_log_lines(home: Path) -> list[str]:
    base = home / "data" / "runs" / RUN
    return [p.read_text() for p in sorted(base.rglob("logs/*.log")) if "attempt-0" in str(p)]


def running_containers() -> list[str]:
    got = _podman("ps", "--filter", "label=flyte.managed=true", "--filter", f"label=flyte.run={RUN}", "-q")
    return got.stdout.split()


def hows(home: Path) -> dict[str, str]:
    """task name + action id -> how it was adopted, for the adopted children."""
    conn = sqlite3.connect(home / "journal.db")
    try:
        marks = ",".join("?" * len(KINDS))
        rows = conn.execute(
            f"SELECT action_id, task_name, meta FROM actions WHERE run=? AND task_name IN ({marks})",
            (RUN, *KINDS),
        ).fetchall()
    finally:
        conn.close()
    return {
        f"{task} {aid}": json.loads(meta)["how"].split(":")[0]
        for aid, task, meta in rows
        if meta and "adopted" in meta
    }


def cleanup() -> None:
    for cid in _podman("ps", "-a", "--filter", f"label=flyte.run={RUN}", "-q").stdout.split():
        _podman("rm", "--force", "--time", "0", cid)
    pods = _podman("pod", "ps", "--format", "{{.Name}}").stdout.split()
    for pod in pods:
        if RUN in pod:
            _podman("pod", "rm", "--force", "--time", "0", pod)


def test_process_container_and_pod_children_are_adopted_together(
    tmp_path: Path, flyte_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flyte
    from flyte.cli.main import cli

    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "mix_adopt_app.py").write_text(textwrap.dedent(APP))
    side = tmp_path / "side"
    side.mkdir()
    side.chmod(0o777)  # the pod's user writes here
    monkeypatch.setenv("FLYTE_TEST_MIX_SIDE", str(side))
    monkeypatch.setenv("FLYTE_LOCAL_GPUS", "")
    monkeypatch.syspath_prepend(str(app_dir))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(app_dir), os.environ.get("PYTHONPATH", "")]))
    code = (
        "import flyte, mix_adopt_app; from flyte.io import Dir;"
        f" flyte.with_runcontext(name={RUN!r}, max_cpus=64)"
        f".run(mix_adopt_app.main, gate=Dir(path={str(side)!r}))"
    )
    driver = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=app_dir)
    try:
        try:
            started = ["exec p0", "exec p1", "exec p2", "exec p3", "exec pod"]
            wait_for(lambda: all(side_log(side)[k] == 1 for k in started), "the host and pod bodies", 300)
            in_box = lambda: any("exec c" in t for t in container_log_lines(flyte_home))  # noqa: E731
            wait_for(in_box, "the container body")
        finally:
            driver.send_signal(signal.SIGKILL)
            driver.wait(timeout=10)

        for key in ("p0", "p1", "c"):  # these end while no driver runs
            (side / f"go-{key}").touch()
        wait_for(lambda: side_log(side)["done p0"] == 1 and side_log(side)["done p1"] == 1, "p0 and p1")
        wait_for(lambda: not running_containers(), "the container to end")

        def release_late() -> None:  # the others end once the recovered driver follows them
            try:
                wait_for(
                    lambda: (
                        len(list(flyte_home.rglob("worker-adopter.json"))) >= 2
                        and "awaited" in hows(flyte_home).get(_pod_key(flyte_home), "")
                    ),
                    "the recovered driver to adopt p2, p3 and the pod",
                    120,
                )
            finally:  # also when nothing was adopted: the run ends and the asserts say why
                for key in ("p2", "p3", "pod"):
                    (side / f"go-{key}").touch()

        t = threading.Thread(target=release_late, daemon=True)
        t.start()
        run = flyte.rerun(RUN, recover=True)
        t.join(timeout=130)

        assert run.status == "SUCCEEDED", run.error
        assert run.outputs()[0] == 0 + 1 + 2 + 3 + 10 + 100
        counts = side_log(side)
        for key in ("p0", "p1", "p2", "p3", "pod"):
            assert counts[f"exec {key}"] == 1 and counts[f"done {key}"] == 1, counts  # exactly once
        container_runs = sum(t.count("exec c") for t in container_log_lines(flyte_home))
        assert container_runs == 1
        got = Counter(hows(flyte_home).values())
        assert got == Counter({"finished while the driver was down": 3, "awaited": 3}), hows(flyte_home)
        shown = CliRunner().invoke(cli, ["runs", "show", RUN])
        flat = re.sub(r"[\s│]+", " ", shown.output)  # the tree wraps long lines
        assert flat.count("adopted after recovery") == 6, shown.output
        assert not running_containers()
    finally:
        for key in ("p0", "p1", "p2", "p3", "pod", "c"):
            (side / f"go-{key}").touch()
        cleanup()


def _pod_key(home: Path) -> str:
    """The key :func:`hows` gives the pod child (its action id is only known from the journal)."""
    conn = sqlite3.connect(home / "journal.db")
    try:
        row = conn.execute(
            "SELECT action_id FROM actions WHERE run=? AND task_name=?", (RUN, "mix_pod.in_pod")
        ).fetchone()
    finally:
        conn.close()
    return f"mix_pod.in_pod {row[0]}" if row else ""
