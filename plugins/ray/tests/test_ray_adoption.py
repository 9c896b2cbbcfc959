"""Issue 23 on the Ray executor: a SIGKILLed driver's Ray tasks keep running on the cluster and a
recovered driver (``flyte.rerun(..., recover=True)``) adopts them: one execution per child."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import flyte
import pytest
from click.testing import CliRunner
from flyte.cli.main import cli
from flyte.testing import JournalReader
from flyteplugins.ray._remote import NAMESPACE
from ray_cluster import RayCluster


def wait_for(
    cond: Callable[[], bool], timeout: float = 90.0, proc: subprocess.Popen[str] | None = None
) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"driver ended early (rc={proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
        time.sleep(0.05)
    raise AssertionError("timed out")


def log(workdir: Path) -> Counter[str]:
    p = workdir / "log.txt"
    return Counter(p.read_text().splitlines() if p.exists() else [])


def start_driver(cluster: RayCluster, workdir: Path, name: str, n: int, **env: str) -> subprocess.Popen[str]:
    code = (
        "import flyte, ray_adopt_app as app;"
        f"flyte.init(executor={cluster.direct!r});"
        f"flyte.with_runcontext(name={name!r}).run(app.main, n={n}, workdir={str(workdir)!r})"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def adoptions_asked() -> int:
    """Adoption requests the run supervisors have had (from this process's Ray connection, once
    the recovered driver in it has connected)."""
    import ray

    if not ray.is_initialized():
        return 0
    total = 0
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["namespace"] == NAMESPACE and actor["name"].startswith("flyte-run-"):
            try:
                handle = ray.get_actor(actor["name"], namespace=NAMESPACE)
                total += ray.get(handle.adoptions_asked.remote(), timeout=10)
            except (ray.exceptions.RayError, ValueError):
                continue  # a supervisor that ended meanwhile
    return total


def kill_driver(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def adopted(home: Path, run: str) -> dict[str, str]:
    rows = JournalReader(home).rows(
        "SELECT action_id, meta FROM actions WHERE run=? AND task_name='ray_adopt.child'", (run,)
    )
    return {
        r["action_id"]: json.loads(r["meta"])["how"] for r in rows if r["meta"] and "adopted" in r["meta"]
    }


def test_ray_tasks_outlive_a_killed_driver_and_are_adopted(
    on_ray: RayCluster, tmp_path: Path, flyte_home: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    n = 3
    proc = start_driver(on_ray, workdir, "rayadopt", n)
    try:
        wait_for(lambda: all((workdir / f"started-{i}").exists() for i in range(n)), proc=proc)
    finally:
        kill_driver(proc)
    (workdir / "go-0").touch()  # this one finishes while no driver runs
    wait_for(lambda: log(workdir)["done 0"] == 1)
    time.sleep(1.0)  # Ray has noticed the driver's death (its job is over)

    def release_late() -> None:  # the others finish once the recovered driver awaits them
        wait_for(lambda: adoptions_asked() >= n)  # a condition, not a delay: the machine may be loaded
        for i in range(1, n):
            (workdir / f"go-{i}").touch()

    t = threading.Thread(target=release_late, daemon=True)
    t.start()
    run = flyte.rerun("rayadopt", recover=True)
    t.join(timeout=30)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == sum(i * i for i in range(n))
    counts = log(workdir)
    assert all(counts[f"exec {i}"] == 1 and counts[f"done {i}"] == 1 for i in range(n)), counts
    hows = sorted(adopted(flyte_home, "rayadopt").values())
    assert len(hows) == n, hows
    assert sum("finished while" in h for h in hows) == 1, hows
    assert sum("awaited" in h for h in hows) == n - 1, hows
    shown = CliRunner().invoke(cli, ["runs", "show", "rayadopt"])
    flat = re.sub(r"[\s│]+", " ", shown.output)
    assert flat.count("adopted after recovery") == n, shown.output


def test_a_ray_task_whose_supervisor_died_is_run_again(
    on_ray: RayCluster, tmp_path: Path, flyte_home: Path
) -> None:
    import ray
    from flyteplugins.ray._remote import NAMESPACE

    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = start_driver(on_ray, workdir, "raydead", 1)
    try:
        wait_for(lambda: (workdir / "started-0").exists(), proc=proc)
    finally:
        kill_driver(proc)
    from flyteplugins.ray._address import parse_address
    from flyteplugins.ray._executor import connect

    connect(parse_address(on_ray.direct))
    sups = [a for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE]
    for a in sups:  # the run's tasks die with it (a lost node would do the same)
        if a["name"].startswith("flyte-run-"):
            ray.kill(ray.get_actor(a["name"], namespace=NAMESPACE))
    (workdir / "go-0").touch()
    with pytest.warns(RuntimeWarning, match="left no result"):
        run = flyte.rerun("raydead", recover=True)
    assert run.status == "SUCCEEDED", run.error
    assert log(workdir)["exec 0"] == 2  # ran again: nothing was left to adopt
    assert adopted(flyte_home, "raydead") == {}


def test_an_orphaned_ray_task_stops_after_the_grace_period(
    on_ray: RayCluster, tmp_path: Path, flyte_home: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = start_driver(on_ray, workdir, "rayorphan", 1, FLYTE_ORPHAN_GRACE_SECONDS="2")
    try:
        wait_for(lambda: (workdir / "started-0").exists(), proc=proc)
    finally:
        kill_driver(proc)
    wait_for(lambda: bool(list(flyte_home.rglob("worker-orphaned.json"))), timeout=60)
    notes = [json.loads(p.read_text()) for p in flyte_home.rglob("worker-orphaned.json")]
    assert any("no recovered driver adopted it within 2s" in n["reason"] for n in notes), notes
    time.sleep(2.0)
    (workdir / "go-0").touch()
    time.sleep(2.0)
    assert log(workdir) == Counter({"exec 0": 1})  # stopped: it never got to "done"
