"""Issue 23: pods started by a driver that is SIGKILLed keep running; the recovered driver
(``flyte.rerun(..., recover=True)``) uses the result of a pod that finished meanwhile and follows
one still running to its end, never starting a second pod, and leaves no pod behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import flyte
import pytest
from flyteplugins.pod import _local as local

HERE = Path(__file__).parent
RUN = "podadopt"
IMAGE = "localhost/flyte-python:test"


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(autouse=True)
def podman_ready() -> None:
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is missing on CI: .ci/run must call .ci/setup-podman.sh")
        pytest.skip("podman is not installed (run .ci/setup-podman.sh)")
    if _podman("image", "exists", IMAGE).returncode != 0:
        pytest.skip(f"the test image {IMAGE} is missing (.ci/build-test-images.sh)")


def wait_for(cond: Callable[[], bool], timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def run_pods() -> list[str]:
    out = _podman("pod", "ps", "--filter", f"label={local.RUN_LABEL}={RUN}", "--format", "{{.Name}}")
    return out.stdout.split()


def primary_states() -> list[str]:
    states = []
    for pod in run_pods():
        got = _podman("container", "inspect", "--format", "{{.State.Status}}", f"{pod}-primary")
        states.append(got.stdout.strip())
    return sorted(states)


def adopted(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "journal.db")
    try:
        rows = conn.execute(
            "SELECT meta FROM actions WHERE run=? AND task_name='pod_adopt.child'", (RUN,)
        ).fetchall()
    finally:
        conn.close()
    return sorted(json.loads(m)["how"].split(":")[0] for (m,) in rows if m and "adopted" in m)


def test_pods_outlive_a_killed_driver_and_are_adopted(
    tmp_path: Path, flyte_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    side = tmp_path / "side"
    side.mkdir()
    side.chmod(0o777)
    execs = side / "execs.log"
    monkeypatch.setenv("FLYTE_TEST_POD_ADOPT_DIR", str(side))
    monkeypatch.setenv("FLYTE_LOCAL_GPUS", "")
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.delitem(sys.modules, "adopt_pod_app", raising=False)  # reads the folder at import
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    code = f"import flyte, adopt_pod_app; flyte.with_runcontext(name={RUN!r}).run(adopt_pod_app.main, n=2)"
    driver = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    try:
        wait_for(lambda: execs.exists() and len(execs.read_text().splitlines()) == 2, timeout=300)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
    try:
        assert primary_states() == ["running", "running"]  # the driver's death stopped neither pod
        (side / "go-0").touch()  # child 0 ends while no driver runs
        wait_for(lambda: primary_states() == ["exited", "running"])

        def release_late() -> None:
            try:
                wait_for(lambda: len(adopted(flyte_home)) == 2, timeout=60)
            finally:  # also when nothing was adopted: the run ends and the asserts say why
                (side / "go-1").touch()

        t = threading.Thread(target=release_late, daemon=True)
        t.start()
        run = flyte.rerun(RUN, recover=True)
        t.join(timeout=90)
        assert run.status == "SUCCEEDED", run.error
        assert run.outputs()[0] == (0 + 1) + (1 + 1)
        assert sorted(execs.read_text().splitlines()) == ["exec 0", "exec 1"]  # one execution each
        assert adopted(flyte_home) == ["awaited", "finished while the driver was down"]
        assert run_pods() == []
        assert not list(Path(local.tempfile.gettempdir()).glob(f"flyte-{RUN}-*-work"))
    finally:
        (side / "go-0").touch()
        (side / "go-1").touch()
        for pod in run_pods():
            _podman("pod", "rm", "--force", "--time", "0", pod)


def test_a_pod_removed_while_no_driver_ran_is_started_again(
    tmp_path: Path, flyte_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    side = tmp_path / "side"
    side.mkdir()
    side.chmod(0o777)
    execs = side / "execs.log"
    monkeypatch.setenv("FLYTE_TEST_POD_ADOPT_DIR", str(side))
    monkeypatch.setenv("FLYTE_LOCAL_GPUS", "")
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.delitem(sys.modules, "adopt_pod_app", raising=False)  # reads the folder at import
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    code = f"import flyte, adopt_pod_app; flyte.with_runcontext(name={RUN!r}).run(adopt_pod_app.main, n=1)"
    driver = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    try:
        wait_for(lambda: execs.exists() and len(execs.read_text().splitlines()) == 1, timeout=300)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
    try:
        (pod,) = run_pods()
        _podman("pod", "rm", "--force", "--time", "0", pod)  # gone without a result
        (side / "go-0").touch()
        run = flyte.rerun(RUN, recover=True)
        assert run.status == "SUCCEEDED", run.error
        assert run.outputs()[0] == 1
        assert execs.read_text().splitlines() == ["exec 0", "exec 0"]  # ran again: nothing to adopt
        assert adopted(flyte_home) == []
        assert run_pods() == []
    finally:
        (side / "go-0").touch()
        for pod in run_pods():
            _podman("pod", "rm", "--force", "--time", "0", pod)


def test_an_orphaned_pod_stops_itself_after_the_grace_period(
    tmp_path: Path, flyte_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    side = tmp_path / "side"
    side.mkdir()
    side.chmod(0o777)
    execs = side / "execs.log"
    monkeypatch.setenv("FLYTE_TEST_POD_ADOPT_DIR", str(side))
    monkeypatch.setenv("FLYTE_LOCAL_GPUS", "")
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.delitem(sys.modules, "adopt_pod_app", raising=False)  # reads the folder at import
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        FLYTE_ORPHAN_GRACE_SECONDS="3",
    )
    code = f"import flyte, adopt_pod_app; flyte.with_runcontext(name={RUN!r}).run(adopt_pod_app.main, n=1)"
    driver = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    try:
        wait_for(lambda: execs.exists() and len(execs.read_text().splitlines()) == 1, timeout=300)
        assert primary_states() == ["running"]
        time.sleep(4)  # past the grace period: the driver's beat keeps the pod going
        assert primary_states() == ["running"]
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
    try:
        wait_for(lambda: primary_states() == ["exited"], timeout=60)  # no driver: it stopped itself
        (pod,) = run_pods()
        note = Path(local.stable_workdir(pod)) / "io" / "orphaned.txt"
        assert "no recovered driver adopted it within 3s" in note.read_text()
        (side / "go-0").touch()
        with pytest.warns(RuntimeWarning, match="left no result"):
            run = flyte.rerun(RUN, recover=True)
        assert run.status == "SUCCEEDED", run.error
        assert run.outputs()[0] == 1
        assert execs.read_text().splitlines() == ["exec 0", "exec 0"]  # stopped, so it ran again
        assert adopted(flyte_home) == []
        assert run_pods() == []
    finally:
        (side / "go-0").touch()
        for pod in run_pods():
            _podman("pod", "rm", "--force", "--time", "0", pod)
