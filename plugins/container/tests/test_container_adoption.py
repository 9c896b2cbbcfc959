"""Issue 23: containers started by a driver that is SIGKILLed keep running; the recovered driver
uses the result of one that finished meanwhile and follows those still running (a Python task in its
image and a ContainerTask), never starting a second container."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.register_assert_rewrite("container_test_support")

import flyte  # noqa: E402
from container_test_support import containers, run_logs  # noqa: E402

pytest_plugins = ["container_test_support"]
pytestmark = pytest.mark.usefixtures("images")
HERE = Path(__file__).parent


def wait_for(cond: Callable[[], bool], timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def child_logs(home: Path, run: str) -> list[str]:
    return [text for path, text in run_logs(home, run).items() if "attempt-0" in path]


def test_containers_outlive_a_killed_driver_and_are_adopted(
    runtime: str, tmp_path: Path, flyte_home: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    code = (
        "import flyte, adopt_ctr_app; from flyte.io import Dir;"
        " flyte.with_runcontext(name='ctradopt', isolation='container')"
        f".run(adopt_ctr_app.main, n=2, gate=Dir(path={str(gate)!r}))"
    )
    driver = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    try:
        wait_for(lambda: sum("exec" in t for t in child_logs(flyte_home, "ctradopt")) == 3)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
    assert len(containers(runtime, run="ctradopt")) == 3  # the driver's death stopped none
    (gate / "go-0").touch()  # child 0 ends while no driver runs
    wait_for(lambda: len(containers(runtime, run="ctradopt")) == 2)

    def release_late() -> None:
        wait_for(lambda: sum("adopting container" in t for t in child_logs(flyte_home, "ctradopt")) == 2)
        (gate / "go-1").touch()
        (gate / "go-w").touch()

    t = threading.Thread(target=release_late, daemon=True)
    t.start()
    run = flyte.rerun("ctradopt", recover=True)
    t.join(timeout=60)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == 1 + 7
    logs = child_logs(flyte_home, "ctradopt")
    creates = [t.count(f"# {runtime.rsplit('/', 1)[-1]} create") for t in logs]
    assert creates == [1, 1, 1], logs  # one container each
    conn = sqlite3.connect(flyte_home / "journal.db")
    metas = [
        json.loads(m)["how"]
        for (m,) in conn.execute(
            "SELECT meta FROM actions WHERE run='ctradopt'"
            " AND task_name IN ('ctr_adopt_img.child', 'ctr_adopt.waiter')"
        )
    ]
    assert sorted(m.split(":")[0] for m in metas) == [
        "awaited",
        "awaited",
        "finished while the driver was down",
    ], metas
    assert containers(runtime, run="ctradopt") == []
