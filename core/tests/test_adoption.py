"""Issue 23: process-isolated children outlive a SIGKILLed driver and are adopted on recovery."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import flyte
import pytest
from click.testing import CliRunner
from conftest import journal_rows, spawn
from flyte._runtime.placement import adopt
from flyte.cli.main import cli


def wait_for(
    cond: Callable[[], bool], timeout: float = 60.0, proc: subprocess.Popen[str] | None = None
) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"driver ended early (rc={proc.returncode}):\n{out}\n{err}")
        time.sleep(0.02)
    raise AssertionError("timed out")


def log(workdir: Path) -> Counter[str]:
    p = workdir / "log.txt"
    return Counter(p.read_text().splitlines() if p.exists() else [])


def start_driver(workdir: Path, name: str, n: int, **env: str) -> subprocess.Popen[str]:
    return spawn(
        "import flyte, adopt_app;"
        f" flyte.with_runcontext(name={name!r}, isolation='process', max_cpus=64)"
        f".run(adopt_app.main, n={n}, workdir={str(workdir)!r})",
        **env,
    )


def kill_driver(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def claimed_pids(home: Path) -> list[int]:
    """The worker processes that claimed an action: each appends its claims to ``PID.log``."""
    return [int(p.stem) for p in home.rglob("*.log") if p.parent.name == adopt.CLAIMS]


def adopted(home: Path, run: str) -> dict[str, str]:
    rows = journal_rows(
        home, "SELECT action_id, meta FROM actions WHERE run=? AND task_name='adopt_app.child'", (run,)
    )
    return {
        r["action_id"]: json.loads(r["meta"])["how"] for r in rows if r["meta"] and "adopted" in r["meta"]
    }


def test_children_finished_in_the_gap_are_reused_and_running_ones_adopted(
    tmp_path: Path, flyte_home: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    n = 4
    proc = start_driver(workdir, "adopty", n)
    try:
        wait_for(lambda: all((workdir / f"started-{i}").exists() for i in range(n)), proc=proc)
    finally:
        kill_driver(proc)
    for i in (0, 1):  # these finish while no driver runs
        (workdir / f"go-{i}").touch()
    wait_for(lambda: log(workdir)["done 0"] == 1 and log(workdir)["done 1"] == 1)

    def release_late() -> None:  # the others finish once the recovered driver awaits them
        wait_for(lambda: len(list(flyte_home.rglob("worker-adopter.json"))) >= 2)
        for i in (2, 3):
            (workdir / f"go-{i}").touch()

    t = threading.Thread(target=release_late, daemon=True)
    t.start()
    run = flyte.rerun("adopty", recover=True)
    t.join(timeout=30)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == sum(i * i for i in range(n))
    counts = log(workdir)
    assert all(counts[f"exec {i}"] == 1 and counts[f"done {i}"] == 1 for i in range(n)), counts
    hows = sorted(adopted(flyte_home, "adopty").values())
    assert len(hows) == 4, hows
    assert sum("awaited" in h for h in hows) == 2 and sum("finished while" in h for h in hows) == 2, hows
    shown = CliRunner().invoke(cli, ["runs", "show", "adopty"])
    flat = re.sub(r"[\s│]+", " ", shown.output)  # the tree wraps long lines
    assert flat.count("adopted after recovery") == 4, shown.output
    from flyte.ui._data import JournalReader

    reader = JournalReader(str(flyte_home / "journal.db"))
    run_row = reader.get_run("adopty")
    assert run_row is not None
    details = [reader.action_detail(run_row, aid) for aid in adopted(flyte_home, "adopty")]
    assert all(d is not None and d.adopted for d in details)  # the viewer's "adopted after recovery" chip


def test_a_child_whose_worker_died_is_run_again(tmp_path: Path, flyte_home: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = start_driver(workdir, "deadworker", 2)
    try:
        wait_for(lambda: all((workdir / f"started-{i}").exists() for i in range(2)), proc=proc)
        pids = claimed_pids(flyte_home)
    finally:
        kill_driver(proc)
    assert pids
    for pid in pids:  # the workers die too (a machine reboot, the OOM killer...)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for i in range(2):
        (workdir / f"go-{i}").touch()
    with pytest.warns(RuntimeWarning, match="left no result"):
        run = flyte.rerun("deadworker", recover=True)
    assert run.status == "SUCCEEDED", run.error
    counts = log(workdir)
    assert counts["exec 0"] == 2 and counts["exec 1"] == 2  # ran again: nothing was left to adopt
    assert adopted(flyte_home, "deadworker") == {}


def test_an_orphan_stops_itself_after_the_grace_period(tmp_path: Path, flyte_home: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = start_driver(workdir, "orphany", 1, FLYTE_ORPHAN_GRACE_SECONDS="1")
    try:
        wait_for(lambda: (workdir / "started-0").exists(), proc=proc)
        # The parent runs in a worker too: both the parent's and the child's workers hold a lease.
        pids = claimed_pids(flyte_home)
    finally:
        kill_driver(proc)

    def gone() -> bool:
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    wait_for(gone, timeout=30)
    notes = [json.loads(p.read_text()) for p in flyte_home.rglob("worker-orphaned.json")]
    # The child's worker waited out the grace period; the parent's stopped at once (it needed a driver).
    assert any("no recovered driver adopted it within 1s" in n["reason"] for n in notes), notes
    assert log(workdir)["done 0"] == 0
