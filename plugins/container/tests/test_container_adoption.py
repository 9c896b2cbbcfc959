"""Issue 23: containers started by a driver that is SIGKILLed keep running; the recovered driver
uses the result of one that finished meanwhile and follows those still running (a Python task in its
image and a ContainerTask), never starting a second container."""

from __future__ import annotations

import json
import os
import re
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


def printed_exec(log: str) -> bool:
    """It printed ``exec <i>`` (not merely a create note that quotes the script: not started yet)."""
    return re.search(r"^exec \w+$", log, re.M) is not None


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
        wait_for(lambda: sum(map(printed_exec, child_logs(flyte_home, "ctradopt"))) == 3)
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


@pytest.mark.parametrize("events", [True, False], ids=["events-log", "no-events-log"])
def test_a_container_task_that_ends_before_the_adopting_wait_is_not_a_failure(
    runtime: str, tmp_path: Path, flyte_home: Path, monkeypatch: pytest.MonkeyPatch, events: bool
) -> None:
    """The race behind CI's 'exited with code -1': the recovered driver found the ContainerTask's
    container running, but it ended and ``--rm`` removed it before ``podman wait`` asked, so the wait
    had no exit status to give. A wrapper of the runtime makes that happen every time: its ``wait``
    releases the container and lets it go first. The exit status then comes from podman's event log;
    where that has none (the wrapper's ``events`` fails) the action runs again, as one that ended
    while no driver ran does."""
    if Path(runtime).name != "podman":
        pytest.skip("the wrapper speaks podman's CLI")
    run_name = f"ctrlate{int(events)}"
    gate = tmp_path / "gate"
    gate.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    code = (
        "import flyte, adopt_ctr_app; from flyte.io import Dir;"
        f" flyte.with_runcontext(name={run_name!r}, isolation='container')"
        f".run(adopt_ctr_app.main, n=0, gate=Dir(path={str(gate)!r}))"
    )
    driver = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    try:
        # its output line, not the create command's note (which quotes the script)
        wait_for(lambda: any(map(printed_exec, child_logs(flyte_home, run_name))))
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
    assert len(containers(runtime, run=run_name)) == 1
    wrapper = tmp_path / "bin" / "podman"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = wait ]; then\n'
        f"  touch {gate}/go-w\n"
        f'  i=0; while {runtime} container exists "$2" && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\n'
        "fi\n"
        + ("" if events else 'if [ "$1" = events ]; then echo "events are off" >&2; exit 125; fi\n')
        + f'exec {runtime} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("FLYTE_CONTAINER_RUNTIME", str(wrapper))
    run = flyte.rerun(run_name, recover=True)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == 7
    (log,) = child_logs(flyte_home, run_name)
    assert "adopting container" in log, log
    if events:
        assert log.count("# podman create") == 1, log  # followed to its end, not run again
        assert "# exit code 0" in log, log
    else:
        assert log.count("# podman create") == 2, log
        assert "exit status lost; running the action again" in log, log
    assert containers(runtime, run=run_name) == []
