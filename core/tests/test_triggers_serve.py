"""A real `flyte triggers serve` process, killed with SIGKILL and started again, fires every missed
occurrence once and none twice; `flyte triggers list` shows the fires with their runs."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import journal_rows

DEMO = """
import os
import time
import flyte
from datetime import datetime
env = flyte.TaskEnvironment("tserve")
@env.task(triggers=flyte.Trigger("fast", automation=flyte.FixedRate(1), inputs={"at": flyte.TriggerTime}))
def job(at: datetime) -> str:
    with open(os.environ["STARTS_FILE"], "a") as f:
        f.write(repr(at.timestamp()) + "\\n")
    time.sleep(float(os.environ.get("JOB_SECONDS", "0")))
    with open(os.environ["SEEN_FILE"], "a") as f:
        f.write(repr(at.timestamp()) + "\\n")
    return at.isoformat()
"""


def stamps(path: Path) -> list[float]:
    """Occurrence times a file lists (rounded: a datetime keeps microseconds)."""
    return [round(float(x), 3) for x in path.read_text().split()] if path.exists() else []


def wait_for(cond: Callable[[], bool], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def fires(home: Path) -> list[dict]:
    if not (home / "journal.db").exists():
        return []
    try:
        rows = journal_rows(home, "SELECT * FROM trigger_fires ORDER BY scheduled_at")
    except Exception:  # the table is created by the scheduler's first write
        return []
    return [dict(r) for r in rows]


@pytest.mark.slow
def test_sigkill_and_restart_fires_missed_occurrences_exactly_once(tmp_path: Path, flyte_home: Path) -> None:
    demo = tmp_path / "tserve_demo.py"
    demo.write_text(DEMO)
    seen, starts = tmp_path / "seen.txt", tmp_path / "starts.txt"
    env = {**os.environ, "SEEN_FILE": str(seen), "STARTS_FILE": str(starts), "JOB_SECONDS": "1.5"}
    cmd = [sys.executable, "-m", "flyte.cli.main", "triggers", "serve", str(demo), "--time-scale", "60"]
    cmd += ["--poll", "0.05", "--catch-up", "all"]
    log = open(tmp_path / "serve.log", "w")
    first = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:  # killed while a run is in the middle of its task
        wait_for(lambda: len(stamps(seen)) >= 1 and len(stamps(starts)) > len(stamps(seen)))
    finally:
        first.kill()  # SIGKILL: no cleanup at all
        first.wait(10)
    interrupted = set(stamps(starts)) - set(stamps(seen))
    journaled = {f["run"] for f in fires(flyte_home)}
    assert interrupted
    before = len(journaled)
    time.sleep(3.2)  # the scheduler is down for ~3 scheduled minutes (60x clock)

    def runs() -> dict[str, str]:
        return {r["name"]: r["status"] for r in journal_rows(flyte_home, "SELECT name, status FROM runs")}

    second = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: (
                len(fires(flyte_home)) >= before + 4 and all(runs().get(r) == "SUCCEEDED" for r in journaled)
            )
        )
    finally:
        second.terminate()  # lets the runs in flight end
        assert second.wait(30) == 0
        log.close()
    assert "missed occurrence(s), catch-up all" in (tmp_path / "serve.log").read_text()
    assert "recovering interrupted run" in (tmp_path / "serve.log").read_text()
    got = fires(flyte_home)
    times = [f["scheduled_at"] for f in got]
    # a contiguous one-minute grid: no occurrence lost, none journaled twice
    assert len(times) == len(set(times)) >= before + 4
    assert all(abs((b - a) - 60.0) < 1e-6 for a, b in itertools.pairwise(times))
    # one run per occurrence, each ran its task to the end once; the interrupted one was recovered
    final = runs()
    assert set(final) == {f["run"] for f in got} and all(v == "SUCCEEDED" for v in final.values())
    assert sorted(stamps(seen)) == sorted(round(t, 3) for t in times)
    by_time = {round(f["scheduled_at"], 3): f["run"] for f in got}
    for t in interrupted:
        segs = journal_rows(flyte_home, "SELECT n FROM segments WHERE run=?", (by_time[t],))
        assert len(segs) == 2  # the killed execution, then the recovery

    out = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", "triggers", "list", "--json", "--limit", "100"],
        capture_output=True,
        text=True,
        check=True,
    )
    (listed,) = json.loads(out.stdout)
    assert listed["key"] == "tserve.job/fast" and listed["automation"] == {
        "fixed_rate": {"interval_minutes": 1, "start_time": None}
    }
    assert sorted(f["scheduled_at"] for f in listed["fires"]) == times
    assert {f["run"]: f["run_status"] for f in listed["fires"]} == {f["run"]: final[f["run"]] for f in got}


APP_AND_TASK = """
import os
import sys
from datetime import datetime

import flyte
import flyte.app

files = flyte.app.AppEnvironment(
    name="trigfiles",
    command=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "$PORT"],
    scaling=flyte.app.Scaling(replicas=1),
)
env = flyte.TaskEnvironment("appjobs")


@env.task(triggers=flyte.Trigger("tick", automation=flyte.FixedRate(1), inputs={"at": flyte.TriggerTime}))
def job(at: datetime) -> str:
    with open(os.environ["SEEN_FILE"], "a") as f:
        f.write(repr(at.timestamp()) + "\\n")
    return at.isoformat()
"""


@pytest.mark.slow
def test_flyte_serve_with_triggers_serves_the_app_and_fires_the_tasks(
    tmp_path: Path, flyte_home: Path
) -> None:
    import urllib.request

    src = tmp_path / "app_and_task.py"
    src.write_text(APP_AND_TASK)
    seen = tmp_path / "seen.txt"
    env = {**os.environ, "SEEN_FILE": str(seen), "FLYTE_TRIGGERS_TIME_SCALE": "60"}
    out = tmp_path / "serve.out"
    with open(out, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flyte.cli.main", "serve", str(src), "--port", "0", "--triggers"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        wait_for(lambda: "serving app 'trigfiles' at" in out.read_text())
        url = out.read_text().split("serving app 'trigfiles' at ")[1].split()[0]
        with urllib.request.urlopen(url + "/", timeout=10) as r:  # the app answers
            assert r.status == 200
        wait_for(lambda: len([f for f in fires(flyte_home) if f["status"] == "STARTED"]) >= 2)
    finally:
        proc.terminate()
        assert proc.wait(60) == 0, out.read_text()
    assert "serving appjobs.job/tick" in out.read_text()
    got = fires(flyte_home)
    executed = seen.read_text().split()
    assert len(executed) == len(set(executed)) >= 2
    assert all(f["run"] for f in got)
