"""The live view tells actions waiting for a place (QUEUED) from running ones (issue 18, point 5).

Ten concurrent children on two places (the CPU budget of process mode, or max_action_concurrency
inline): at any time at most two of them show RUNNING and the rest QUEUED, in the controller's
events, in the terminal's live view (``LiveProgress``) and in ``flyte run --follow`` of a real
process.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import APPS, journal_rows

CHILDREN = 10
SLOTS = 2


class Watch:
    """Follows the children's states from the run's events and keeps the most seen at once.

    A child's ``start`` is followed at once (in the same step of the event loop) by ``queued``
    when no place is free, so the counts are taken after every other event."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.state: dict[str, str] = {}
        self.max_running = 0
        self.max_queued = 0

    def __call__(self, event: str, action: Any, status: str) -> None:
        if action.task_name != self.task or event not in ("start", "queued", "running", "released", "end"):
            return
        self.state[action.action_id] = "ENDING" if event == "released" else status
        if event != "start":
            self.observe()

    def observe(self) -> None:
        values = list(self.state.values())
        self.max_running = max(self.max_running, values.count("RUNNING"))
        self.max_queued = max(self.max_queued, values.count("QUEUED"))


def live_view() -> Any:
    from flyte.cli._views import LiveProgress
    from rich.console import Console

    return LiveProgress(Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None))


def render(progress: Any) -> str:
    progress.console.file = io.StringIO()
    progress.console.print(progress)
    return str(progress.console.file.getvalue())


def run_watched(task: Any, rc: Any) -> tuple[Watch, list[dict[str, int]], str]:
    import queued_app

    watch = Watch(f"queued.{task}")
    progress = live_view()
    seen: list[dict[str, int]] = []
    busiest: list[str] = [""]

    def probe(event: str, action: Any, status: str) -> None:
        if event in ("queued", "running", "released", "end"):
            seen.append(dict(progress.counts))
            if progress.counts.get("QUEUED", 0) == max(s.get("QUEUED", 0) for s in seen):
                busiest[0] = render(progress)  # the view when most children were waiting

    rc.listeners.extend([progress, watch, probe])
    run = rc.run(getattr(queued_app, "fan" if task == "nap" else "afan"), n=CHILDREN)
    assert run.status == "SUCCEEDED" and run.outputs()[0] == sum(range(CHILDREN))
    assert set(watch.state.values()) == {"SUCCEEDED"}
    return watch, seen, busiest[0]


def test_process_mode_two_cpus_ten_children() -> None:
    watch, seen, text = run_watched("nap", flyte.with_runcontext(isolation="process", max_cpus=SLOTS))
    assert watch.max_running == SLOTS
    assert watch.max_queued >= CHILDREN - SLOTS
    # the live view: the parent and at most two children running, the others queued
    assert max(s.get("RUNNING", 0) for s in seen) <= SLOTS + 1
    assert max(s.get("QUEUED", 0) for s in seen) == watch.max_queued
    assert f"queued.nap x{CHILDREN}" in text and f"queued {watch.max_queued}" in text, text


def test_inline_max_action_concurrency_two() -> None:
    watch, _seen, text = run_watched("anap", flyte.with_runcontext(max_action_concurrency=SLOTS))
    assert watch.max_running == SLOTS
    assert watch.max_queued == CHILDREN - SLOTS
    assert f"queued {CHILDREN - SLOTS}" in text, text


def test_inline_sync_children_beyond_the_thread_pool() -> None:
    """Inline sync bodies run on the run's thread pool (CPUs + 4 threads): the children beyond it
    wait for a thread, QUEUED (the case of many sync children on a small machine)."""
    import queued_app

    threads = min(32, (os.cpu_count() or 1) + 4)
    extra = 3
    watch = Watch("queued.nap")
    progress = live_view()
    rc = flyte.with_runcontext(isolation="inline")
    rc.listeners.extend([progress, watch])
    run = rc.run(queued_app.fan, n=threads + extra)
    assert run.outputs()[0] == sum(range(threads + extra))
    assert watch.max_running == threads and watch.max_queued == extra
    assert set(watch.state.values()) == {"SUCCEEDED"} and progress.counts.get("QUEUED") == 0


def test_no_queued_state_without_limits() -> None:
    """Inline async children with no limit all run at once: nothing is shown queued."""
    watch, seen, _ = run_watched("anap", flyte.with_runcontext())
    assert watch.max_queued == 0
    assert watch.max_running == CHILDREN - 1  # counted from the first end on: the other nine run
    assert all(s.get("QUEUED", 0) == 0 for s in seen)


def test_follow_lines_of_a_real_run(flyte_home: Path) -> None:
    """``flyte run --follow`` in its own process with FLYTE_MAX_CPUS=2: once the ten children have
    started, two are RUNNING and eight QUEUED; each queued one is printed RUNNING when it gets a
    place, then SUCCEEDED."""
    env = dict(os.environ, FLYTE_HOME=str(flyte_home), FLYTE_MAX_CPUS=str(SLOTS))
    flyte_cli = str(Path(sys.executable).parent / "flyte")
    app = str(APPS / "queued_app.py")
    proc = subprocess.run(
        [flyte_cli, "run", "--follow", "--isolation", "process", app, "fan", "--n", str(CHILDREN)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"outputs: {sum(range(CHILDREN))}" in proc.stdout
    lines = [ln.split() for ln in proc.stdout.splitlines() if "queued.nap" in ln]
    state: dict[str, str] = {}
    for status, _task, aid in lines:
        if status not in ("RUNNING", "QUEUED") or (status == "RUNNING" and aid in state):
            break  # the first child got a place or ended: every child has started by now
        state[aid] = status
    assert len(state) == CHILDREN
    assert list(state.values()).count("RUNNING") == SLOTS, proc.stdout
    assert list(state.values()).count("QUEUED") == CHILDREN - SLOTS
    for aid in state:  # each child: QUEUED (when it waited), then RUNNING, then SUCCEEDED
        seq = [st for st, _, a in lines if a == aid]
        assert seq in (["RUNNING", "SUCCEEDED"], ["RUNNING", "QUEUED", "RUNNING", "SUCCEEDED"]), seq


def test_the_journal_records_queued_actions(flyte_home: Path) -> None:
    """What ``flyte ui`` and ``flyte runs show`` read: a child waiting for a place is QUEUED in its
    journal row (seen by another connection during the run), RUNNING once it has one."""
    import sqlite3
    import threading
    import time

    import queued_app

    seen: list[dict[str, int]] = []
    stop = threading.Event()
    db = flyte_home / "journal.db"

    def poll() -> None:
        while not stop.is_set():
            if db.exists():
                con = sqlite3.connect(db, timeout=5)
                try:
                    rows = con.execute(
                        "SELECT status, COUNT(*) FROM actions WHERE task_name='queued.anap' GROUP BY status"
                    ).fetchall()
                    seen.append({str(k): int(v) for k, v in rows})
                except sqlite3.Error:
                    pass
                finally:
                    con.close()
            time.sleep(0.003)

    t = threading.Thread(target=poll)
    t.start()
    try:
        run = flyte.with_runcontext(max_action_concurrency=SLOTS).run(queued_app.afan, n=CHILDREN)
    finally:
        stop.set()
        t.join()
    assert max(s.get("QUEUED", 0) for s in seen) == CHILDREN - SLOTS, seen
    assert any(s.get("QUEUED") and s.get("SUCCEEDED") for s in seen)  # queued ones were admitted later
    final = journal_rows(flyte_home, "SELECT status, ended_at FROM actions WHERE run=?", (run.name,))
    assert {r["status"] for r in final} == {"SUCCEEDED"} and all(r["ended_at"] for r in final)


@pytest.fixture(autouse=True)
def _apps_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")]))
