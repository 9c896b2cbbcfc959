"""Issue 23, the orphan grace for containers: a container whose driver is gone for good stops after
``FLYTE_ORPHAN_GRACE_SECONDS`` (a Python task's bootstrap stops itself; a ContainerTask's host
watchdog stops it), leaving ``orphaned.txt``; the recovered driver warns and runs the action again.
A driver that keeps waiting keeps its containers alive however short the grace."""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
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
GRACE = 3


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


def workdirs(run: str) -> list[str]:
    return sorted(glob.glob(os.path.join(tempfile.gettempdir(), f"flyte-{run}-*-work")))


def watchdogs(run: str) -> list[int]:
    """Host watchdog processes (ContainerTask) of the run's containers still alive."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"_watchdog.py") for a in argv) and any(
            f"flyte-{run}-".encode() in a for a in argv
        ):
            found.append(int(pid))
    return found


def test_orphaned_containers_stop_after_the_grace_and_run_again(
    runtime: str, tmp_path: Path, flyte_home: Path
) -> None:
    run_name = "ctrorphan"
    for d in workdirs(run_name):
        shutil.rmtree(d, ignore_errors=True)
    gate = tmp_path / "gate"
    gate.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        FLYTE_ORPHAN_GRACE_SECONDS=str(GRACE),
    )
    code = (
        "import flyte, adopt_ctr_app; from flyte.io import Dir;"
        f" flyte.with_runcontext(name={run_name!r}, isolation='container')"
        f".run(adopt_ctr_app.main, n=1, gate=Dir(path={str(gate)!r}))"
    )
    driver = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    try:
        wait_for(lambda: sum(map(printed_exec, child_logs(flyte_home, run_name))) == 2)
        time.sleep(GRACE + 1)  # past the grace: the driver's beat keeps both going
        assert len(containers(runtime, run=run_name)) == 2
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
    killed = time.monotonic()
    wait_for(lambda: containers(runtime, run=run_name) == [], timeout=GRACE + 60)
    took = time.monotonic() - killed
    print(f"both orphans gone {took:.1f}s after the driver's SIGKILL (grace {GRACE}s)")
    assert took < GRACE + 30
    notes = [
        Path(p).read_text()
        for d in workdirs(run_name)
        for p in glob.glob(f"{d}/**/orphaned.txt", recursive=True)
    ]
    assert len(notes) == 2, notes
    assert all(f"within the grace period of {GRACE}s" in n for n in notes), notes
    assert any("the container stopped itself" in n for n in notes)  # the Python task's bootstrap
    assert any("the container was stopped" in n for n in notes)  # the ContainerTask's watchdog
    wait_for(lambda: watchdogs(run_name) == [], timeout=30)  # it stopped its container and went

    (gate / "go-0").touch()
    (gate / "go-w").touch()
    with pytest.warns(RuntimeWarning, match="left no result") as got:
        run = flyte.rerun(run_name, recover=True)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == 0 + 7
    assert sum("left no result" in str(w.message) for w in got) == 2
    logs = child_logs(flyte_home, run_name)
    creates = [t.count(f"# {runtime.rsplit('/', 1)[-1]} create") for t in logs]
    assert creates == [2, 2], logs  # stopped, so each ran again
    assert all("running the action again" in t for t in logs), logs
    assert containers(runtime, run=run_name) == []
    assert workdirs(run_name) == []
    assert watchdogs(run_name) == []


def test_a_waiting_driver_keeps_short_grace_containers_alive(
    runtime: str, tmp_path: Path, flyte_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_name = "ctrbeat"
    monkeypatch.setenv("FLYTE_ORPHAN_GRACE_SECONDS", "2")
    monkeypatch.syspath_prepend(str(HERE))
    import adopt_ctr_app

    gate = tmp_path / "gate"
    gate.mkdir()

    def release() -> None:
        time.sleep(6)  # three grace periods
        (gate / "go-0").touch()
        (gate / "go-w").touch()

    threading.Thread(target=release, daemon=True).start()
    started = time.monotonic()
    run = flyte.with_runcontext(name=run_name, isolation="container").run(
        adopt_ctr_app.main, n=1, gate=flyte.io.Dir(path=str(gate))
    )
    assert run.status == "SUCCEEDED", run.error
    assert time.monotonic() - started > 6
    assert run.outputs()[0] == 0 + 7
    logs = child_logs(flyte_home, run_name)
    assert len(logs) == 2 and not any("orphan" in t or "stopped" in t for t in logs), logs
    assert containers(runtime, run=run_name) == []
    assert watchdogs(run_name) == []


def test_the_standalone_scripts_agree_with_the_core_names() -> None:
    from flyte._runtime.placement import adopt
    from flyteplugins.container import _bootstrap, _orphan, _watchdog

    assert _bootstrap.BEAT == _watchdog.BEAT == adopt.DRIVER_BEAT
    assert _bootstrap.ORPHANED == _watchdog.ORPHANED == _orphan.ORPHANED == adopt.ORPHANED_NOTE
    assert _bootstrap.EXIT_ORPHANED == _orphan.EXIT_ORPHANED == adopt.EXIT_ORPHANED
    assert _bootstrap.GRACE_ENV == _orphan.GRACE_ENV
