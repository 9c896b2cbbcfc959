"""Process mode, a worker sent its next queued actions ahead of the one it runs (issue 20): each
starts only when the one before it ended (it takes that one's CPU share), and a cancel, a crash or
a killed worker never loses nor blames an action that was only waiting there."""

from __future__ import annotations

import itertools
import os
import time
import warnings
from pathlib import Path

import ahead_app as app
import flyte
import pytest
from flyte._runtime.placement import pool

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Actions under 1 s count as quick (a loaded test machine makes 5 ms round trips)."""
    monkeypatch.setattr(pool, "PREFETCH_S", 1.0)
    monkeypatch.setattr(pool, "AHEAD", 2)


def _run_fan(n: int, secs: float, crash_at: int = -99) -> list[object]:
    return list(
        flyte.with_runcontext(max_cpus=1).run(app.fan, n=n, secs=secs, crash_at=crash_at).outputs()[0]
    )


def test_sent_ahead_runs_after_the_one_before(quick: None) -> None:
    """One CPU: actions were waiting in the worker (sent ahead), yet no two ran at once and all ran
    in one worker."""
    out = _run_fan(40, 0.002)
    assert sorted(o[0] for o in out) == list(range(40))  # type: ignore[index]
    assert max(o[4] for o in out) >= 1, "nothing was sent ahead"  # type: ignore[index]
    spans = sorted((o[2], o[3]) for o in out)  # type: ignore[index]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, "an action sent ahead started before the one it waited for ended"
    assert len({o[1] for o in out}) == 1  # type: ignore[index]


def test_not_sent_ahead_when_off_or_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing waits in a worker with ``AHEAD`` 0, nor for a task slower than ``PREFETCH_S`` (the next
    action would wait behind it while another worker frees up)."""
    monkeypatch.setattr(pool, "AHEAD", 0)
    monkeypatch.setattr(pool, "PREFETCH_S", 1.0)
    assert max(o[4] for o in _run_fan(12, 0.002)) == 0  # type: ignore[index]
    monkeypatch.setattr(pool, "AHEAD", 2)
    monkeypatch.setattr(pool, "PREFETCH_S", 0.005)
    assert max(o[4] for o in _run_fan(6, 0.05)) == 0  # type: ignore[index]


def test_cancel_an_action_waiting_in_the_worker(quick: None, tmp_path: Path) -> None:
    """Abandoned while it waited in the worker: it never starts, and the worker (running another)
    is not killed for it."""
    (tmp_path / "m").mkdir()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run = flyte.with_runcontext(max_cpus=1).run(
            app.cancel_some, secs=0.6, marks=str(tmp_path / "m"), cancel=[1, 3]
        )
        out = run.outputs()[0]
    assert out[1] == out[3] == "CancelledError", out
    assert [o[0] for o in (out[0], out[2], out[4])] == [0, 2, 4]  # type: ignore[index]
    assert len({o[1] for o in (out[0], out[2], out[4])}) == 1, "the worker was replaced"  # type: ignore[index]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["-1", "0", "2", "4"]
    assert not [w for w in seen if "fresh worker" in str(w.message)]


def test_cancel_the_running_one_keeps_those_waiting(quick: None, tmp_path: Path) -> None:
    """The running action is cancelled (its worker killed): what waited behind it runs elsewhere,
    not failed, not retried as a crash."""
    (tmp_path / "m").mkdir()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run = flyte.with_runcontext(max_cpus=1).run(
            app.cancel_some, secs=0.6, marks=str(tmp_path / "m"), cancel=[0]
        )
        out = run.outputs()[0]
    assert out[0] == "CancelledError", out
    assert [o[0] for o in out[1:]] == [1, 2, 3, 4]  # type: ignore[index]
    assert not [w for w in seen if "fresh worker" in str(w.message)]


def test_a_crash_fails_only_the_action_that_ran(quick: None) -> None:
    """A worker dies with actions waiting in it: only the one it ran fails (after its system
    retries); the others run on fresh workers."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        out = _run_fan(12, 0.002, crash_at=5)
    assert out[5] == "WorkerCrashedError", out
    assert [o[0] for i, o in enumerate(out) if i != 5] == [i for i in range(12) if i != 5]  # type: ignore[index]


def test_driver_killed_with_actions_waiting_in_a_worker(tmp_path: Path, flyte_home: Path) -> None:
    """The driver is SIGKILLed while one action runs and two wait in its worker: the running one is
    adopted on recovery, the waiting ones run once (the orphaned worker does not start them, or the
    recovered driver adopts what it started), never twice."""
    from collections import Counter

    from conftest import spawn
    from test_adoption import kill_driver, wait_for

    work = tmp_path / "work"
    work.mkdir()
    (work / "go--1").touch()
    proc = spawn(
        "import flyte, ahead_app;"
        " flyte.with_runcontext(name='aheadkill', max_cpus=1)"
        f".run(ahead_app.gated_fan, n=3, workdir={str(work)!r})",
        FLYTE_WORKER_PREFETCH_MS="60000",
    )
    try:
        wait_for(lambda: (work / "started-0").exists(), proc=proc)
        time.sleep(0.5)  # 1 and 2 are sent ahead when they queue
    finally:
        kill_driver(proc)
    for i in range(3):
        (work / f"go-{i}").touch()
    run = flyte.rerun("aheadkill", recover=True)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == 3
    counts = Counter((work / "log.txt").read_text().splitlines())
    assert all(counts[f"exec {i}"] == 1 for i in range(3)), counts


def test_sent_ahead_two_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fan-out's worker is topped up two actions to a write (``REFILL``), not one write per result
    (each write is a system call that wakes the worker), and what runs still runs one at a time."""
    monkeypatch.setattr(pool, "PREFETCH_S", 1.0)
    monkeypatch.setattr(pool, "AHEAD", 3)
    writes: list[int] = []
    plain = pool.WorkerProc.write

    def counted(self: pool.WorkerProc, data: bytes) -> None:
        writes.append(self.pid)
        plain(self, data)

    monkeypatch.setattr(pool.WorkerProc, "write", counted)
    n = 60
    for refill, low, high in ((2, 0.3 * n, 0.7 * n), (1, 0.9 * n, 2 * n)):
        monkeypatch.setattr(pool, "REFILL", refill)
        writes.clear()
        out = _run_fan(n, 0.002)
        assert sorted(o[0] for o in out) == list(range(n))  # type: ignore[index]
        spans = sorted((o[2], o[3]) for o in out)  # type: ignore[index]
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, "an action sent ahead started before the one it waited for ended"
        assert max(o[4] for o in out) >= 2, "never two waiting"  # type: ignore[index]
        assert low <= len(writes) <= high, (refill, len(writes))


@pytest.mark.parametrize(
    ("name", "raw"),
    [("FLYTE_WORKER_AHEAD", "two"), ("FLYTE_WORKER_AHEAD", "-1"), ("FLYTE_WORKER_PREFETCH_MS", "nan")],
)
def test_a_bad_worker_setting_names_the_variable(name: str, raw: str) -> None:
    """A worker setting that is not a number >= 0 is refused with the variable's name and the fix."""
    import subprocess
    import sys

    code = "import flyte._runtime.placement.pool"
    env = {**os.environ, name: raw}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"invalid {name}={raw!r}" in proc.stderr
    assert ">= 0, or unset it" in proc.stderr
    ok = subprocess.run([sys.executable, "-c", code], env={**os.environ, name: "2"}, timeout=60)
    assert ok.returncode == 0
