"""Durable execution: deterministic action IDs, recovery after a real SIGKILL, traces and the durable
clock replayed, non-determinism detected, concurrent runs on one journal, large values offloaded."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import flyte
import flyte.errors
import pytest
from click.testing import CliRunner
from conftest import journal_rows, spawn
from flyte.cli.main import cli

env = flyte.TaskEnvironment(name="rt_durable")


def wait_until(cond: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 20.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            if cond():
                return
        except Exception:  # the journal may not exist yet
            pass
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"subprocess ended early (rc={proc.returncode}):\n{out}\n{err}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("timed out waiting for the subprocess")


def kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def marker_lines(workdir: Path) -> list[str]:
    p = workdir / "marker.txt"
    return p.read_text().splitlines() if p.exists() else []


def count_status(home: Path, run: str, task: str, status: str) -> int:
    rows = journal_rows(
        home,
        "SELECT COUNT(*) AS n FROM actions WHERE run=? AND task_name=? AND status=?",
        (run, task, status),
    )
    return int(rows[0]["n"])


# ---- deterministic action IDs --------------------------------------------------------------------
def _tree_shape(home: Path, run: str) -> list[tuple[str, ...]]:
    """Each action as the path of (position, task) pairs from the root: the tree without its IDs."""
    rows = journal_rows(
        home, "SELECT action_id, parent_id, position, task_name FROM actions WHERE run=?", (run,)
    )
    by_id = {r["action_id"]: r for r in rows}

    def path(r: object) -> tuple[str, ...]:
        parts: list[str] = []
        cur = r
        while cur is not None:
            parts.append(f"{cur['position']}:{cur['task_name']}")  # type: ignore[index]
            cur = by_id.get(cur["parent_id"])  # type: ignore[index]
        return tuple(reversed(parts))

    return sorted(path(r) for r in rows)


def test_action_ids_identical_across_processes(tmp_path: Path) -> None:
    code = (
        "import flyte, work_app; flyte.with_runcontext(name='det').run(work_app.tree_with_sets, width=3);"
        " work_app.dump_actions('det')"
    )
    # different string hashing in each process: set inputs must still encode (and hash) the same
    procs = [spawn(code, home=tmp_path / f"home{i}", PYTHONHASHSEED=str(i + 1)) for i in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        outs.append(json.loads(out))
    assert outs[0] == outs[1]
    # 1 root + 1 tree + 3 mids + 3 x (2 + 3) leaves + 3 traces + 1 tagged, all distinct IDs
    assert len(outs[0]) == 1 + 1 + 3 + 15 + 3 + 1
    assert len({r[0] for r in outs[0]}) == len(outs[0])
    assert {r[4] for r in outs[0]} == {"SUCCEEDED"}


def test_action_ids_depend_on_run_only_through_the_root(flyte_home: Path) -> None:
    import work_app

    a = flyte.with_runcontext(name="det-a").run(work_app.tree, width=2)
    b = flyte.with_runcontext(name="det-b").run(work_app.tree, width=2)
    assert a.outputs()[0] == b.outputs()[0]
    ids_a = {
        r["action_id"] for r in journal_rows(flyte_home, "SELECT action_id FROM actions WHERE run='det-a'")
    }
    ids_b = {
        r["action_id"] for r in journal_rows(flyte_home, "SELECT action_id FROM actions WHERE run='det-b'")
    }
    assert len(ids_a) == len(ids_b) == 1 + 2 + 2 * 4 + 2
    assert not ids_a & ids_b
    assert _tree_shape(flyte_home, "det-a") == _tree_shape(flyte_home, "det-b")
    # other inputs give other IDs below the root as well
    c = flyte.with_runcontext(name="det-c").run(work_app.tree, width=3)
    assert c.status == "SUCCEEDED"
    assert _tree_shape(flyte_home, "det-c") != _tree_shape(flyte_home, "det-a")


# ---- crash recovery with a real SIGKILL ----------------------------------------------------------
def test_recover_after_sigkill_does_not_rerun_finished_children(tmp_path: Path, flyte_home: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    n = 8
    proc = spawn(
        "import flyte, crash_app;"
        f" flyte.with_runcontext(name='crashy').run(crash_app.main, n={n}, workdir={str(workdir)!r})"
    )
    try:
        wait_until(lambda: count_status(flyte_home, "crashy", "crash_app.child", "SUCCEEDED") >= n // 2, proc)
        with pytest.raises(flyte.errors.InitializationError, match="still running"):
            flyte.rerun("crashy", recover=True)  # not while its process lives
    finally:
        kill9(proc)
    first = marker_lines(workdir)
    assert sorted(ln for ln in first if ln.startswith("child")) == [f"child {i}" for i in range(n // 2)]
    assert first.count("trace") == 1
    assert journal_rows(flyte_home, "SELECT status FROM runs WHERE name='crashy'")[0]["status"] == "RUNNING"
    shown = CliRunner().invoke(cli, ["runs", "show", "crashy", "--json"])
    assert json.loads(shown.output)["run"]["effective_status"] == "INTERRUPTED"  # not RUNNING forever
    assert "INTERRUPTED" in CliRunner().invoke(cli, ["runs", "show", "crashy"]).output

    (workdir / "go").touch()
    run = flyte.rerun("crashy", recover=True)
    assert run.name == "crashy"
    assert run.status == "SUCCEEDED", run.error
    out = run.outputs()[0]
    assert out["total"] == str(sum(i * i for i in range(n)) + 1000)

    counts = Counter(marker_lines(workdir))
    assert all(counts[f"child {i}"] == 1 for i in range(n)), counts  # nothing ran twice
    assert counts["trace"] == 1  # the recorded trace was replayed, not re-executed
    mains = [ln for ln in marker_lines(workdir) if ln.startswith("main ")]
    assert len(mains) == 2  # the root body is replayed ...
    assert mains[0] == mains[1] == f"main {out['started']}"  # ... and sees the same durable.now()
    assert count_status(flyte_home, "crashy", "crash_app.child", "SUCCEEDED") == n
    assert journal_rows(flyte_home, "SELECT status FROM runs WHERE name='crashy'")[0]["status"] == "SUCCEEDED"


def test_durable_sleep_resumes_with_remaining_time(tmp_path: Path, flyte_home: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    secs = 5.0  # a fresh sleep (5 s) and the resumed one (~1 s) stay apart even on a loaded machine
    proc = spawn(
        "import flyte, sleep_app;"
        f" flyte.with_runcontext(name='sleepy').run(sleep_app.main, secs={secs}, workdir={str(workdir)!r})"
    )
    sql = "SELECT started_at FROM actions WHERE run='sleepy' AND kind='durable' AND task_name='sleep'"
    try:
        wait_until(lambda: bool(journal_rows(flyte_home, sql)), proc)
    finally:
        kill9(proc)
    wake = journal_rows(flyte_home, sql)[0]["started_at"] + secs
    time.sleep(max(0.0, wake - 1.0 - time.time()))  # about 1 s of the sleep is left

    t0 = time.time()
    result = CliRunner().invoke(cli, ["rerun", "sleepy", "--recover"])
    elapsed = time.time() - t0
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.output
    assert 0.6 < elapsed < 3.5, f"recovered sleep took {elapsed:.2f}s; ~1s was left of {secs}s"
    starts = (workdir / "starts.txt").read_text().splitlines()
    assert len(starts) == 2 and starts[0] == starts[1]
    assert starts[0] in result.output


# ---- traces ---------------------------------------------------------------------------------------
calls: Counter[str] = Counter()


@flyte.trace
async def t_async(x: int) -> int:
    calls["async"] += 1
    await asyncio.sleep(0)
    return x + 1


@flyte.trace
def t_sync(x: int) -> dict[str, int]:
    calls["sync"] += 1
    return {"x": x}


@flyte.trace
def t_gen(n: int):  # type: ignore[no-untyped-def]
    calls["gen"] += 1
    yield from range(n)


@flyte.trace
async def t_agen(n: int):  # type: ignore[no-untyped-def]
    calls["agen"] += 1
    for i in range(n):
        yield i * 10


@env.task
async def traced_async_parent(workdir: str) -> list[object]:
    a = await t_async(1)
    s = t_sync(2)
    g = list(t_gen(3))
    ag = [x async for x in t_agen(2)]
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("fail after the traces")
    return [a, s, g, ag]


@env.task
def traced_sync_parent(workdir: str) -> list[object]:
    s = t_sync(5)
    g = list(t_gen(2))
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("fail after the traces")
    return [s, g]


@pytest.mark.parametrize(
    ("parent", "expected", "first_calls"),
    [
        (
            traced_async_parent,
            [2, {"x": 2}, [0, 1, 2], [0, 10]],
            {"async": 1, "sync": 1, "gen": 1, "agen": 1},
        ),
        (traced_sync_parent, [{"x": 5}, [0, 1]], {"sync": 1, "gen": 1}),
    ],
    ids=["async-parent", "sync-parent"],
)
def test_traces_are_recorded_and_replayed(
    parent: flyte.TaskTemplate,
    expected: list[object],
    first_calls: dict[str, int],
    tmp_path: Path,
    flyte_home: Path,
) -> None:
    calls.clear()
    with pytest.raises(Exception) as failed:
        flyte.run(parent, workdir=str(tmp_path))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    assert dict(calls) == first_calls
    rows = journal_rows(
        flyte_home, "SELECT kind, status FROM actions WHERE run=? AND kind='trace'", (run.name,)
    )
    assert len(rows) == len(first_calls) and {r["status"] for r in rows} == {"SUCCEEDED"}

    (tmp_path / "go").touch()
    again = flyte.rerun(run.name, recover=True)
    assert again.outputs()[0] == expected
    assert dict(calls) == first_calls  # no trace body ran again


@flyte.trace
async def trace_calling_task(x: int) -> int:
    return await square_d(x)


@env.task
async def square_d(x: int) -> int:
    return x * x


@env.task
async def parent_of_bad_trace(x: int) -> int:
    return await trace_calling_task(x)


def test_task_inside_trace_raises() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(parent_of_bad_trace, x=3)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert isinstance(run.error, flyte.errors.TraceDoesNotAllowNestedTasksError)


def test_traces_outside_a_run_are_plain_calls() -> None:
    calls.clear()
    assert asyncio.run(t_async(1)) == 2
    assert t_sync(1) == {"x": 1}
    assert list(t_gen(2)) == [0, 1]
    assert dict(calls) == {"async": 1, "sync": 1, "gen": 1}


# ---- recovery after a failure; non-determinism ---------------------------------------------------
@env.task
async def step_a(x: int) -> int:
    calls["a"] += 1
    return x + 100


@env.task
async def step_b(x: int) -> int:
    calls["b"] += 1
    return x + 200


@env.task
async def branching(workdir: str) -> int:
    if os.path.exists(os.path.join(workdir, "branch_b")):
        first = await step_b(1)
    else:
        first = await step_a(1)
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("failure after the first child")
    return first + await step_a(2)


def test_recover_failed_run_reuses_succeeded_children(tmp_path: Path) -> None:
    calls.clear()
    with pytest.raises(Exception) as failed:
        flyte.run(branching, workdir=str(tmp_path))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED" and calls["a"] == 1
    (tmp_path / "go").touch()
    again = flyte.rerun(run.name, recover=True)
    assert again.outputs()[0] == 101 + 102
    assert calls["a"] == 2  # step_a(1) replayed from the journal, step_a(2) ran


def test_rerun_without_recover_is_a_new_run(tmp_path: Path) -> None:
    calls.clear()
    (tmp_path / "go").touch()
    run = flyte.run(branching, workdir=str(tmp_path))
    fresh = flyte.rerun(run.name, recover=False)
    assert fresh.name != run.name
    assert fresh.outputs()[0] == run.outputs()[0] == 203
    assert calls["a"] == 4


def test_recover_with_other_task_at_same_position_is_non_determinism(tmp_path: Path) -> None:
    calls.clear()
    with pytest.raises(Exception) as failed:
        flyte.run(branching, workdir=str(tmp_path))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    (tmp_path / "branch_b").touch()
    (tmp_path / "go").touch()
    with pytest.raises(Exception) as failed:
        flyte.rerun(run.name, recover=True)
    again = failed.value.flyte_run  # type: ignore[attr-defined]
    assert again.status == "FAILED"
    err = again.error
    assert isinstance(err, flyte.errors.NonDeterminismError), repr(err)
    assert "rt_durable.step_a" in str(err) and "rt_durable.step_b" in str(err)
    assert calls["b"] == 0  # detected before the other task ran


def test_rerun_unknown_run() -> None:
    with pytest.raises(flyte.errors.RunNotFoundError):
        flyte.rerun("no-such-run")


# ---- two runs at once on one journal -------------------------------------------------------------
def test_two_concurrent_runs_share_the_journal(flyte_home: Path) -> None:
    n = 300
    procs = [
        spawn(
            "import flyte, work_app;"
            f" print(flyte.with_runcontext(name='par-{i}').run(work_app.fanout, n={n}).outputs()[0])"
        )
        for i in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.strip() == str(sum(range(1, n + 1)))
    assert journal_rows(flyte_home, "PRAGMA integrity_check")[0][0] == "ok"
    for i in range(2):
        rows = journal_rows(
            flyte_home, "SELECT status, COUNT(*) AS n FROM actions WHERE run=? GROUP BY status", (f"par-{i}",)
        )
        assert [tuple(r) for r in rows] == [("SUCCEEDED", n + 1)]
    runs = journal_rows(flyte_home, "SELECT name, status FROM runs ORDER BY name")
    assert [tuple(r) for r in runs] == [("par-0", "SUCCEEDED"), ("par-1", "SUCCEEDED")]


# ---- large values go to the object store ---------------------------------------------------------
@env.task
async def big_text(n: int) -> str:
    calls["big"] += 1
    return "x" * n


@env.task
async def text_len(text: str) -> int:
    return len(text)


@env.task
async def uses_big(n: int, workdir: str) -> int:
    text = await big_text(n)
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("fail after the big child")
    return await text_len(text)


def test_large_values_are_offloaded_and_read_back_on_recovery(tmp_path: Path, flyte_home: Path) -> None:
    calls.clear()
    n = 300 * 1024
    with pytest.raises(Exception) as failed:
        flyte.run(uses_big, n=n, workdir=str(tmp_path))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    rows = journal_rows(
        flyte_home,
        "SELECT length(outputs) AS size FROM actions WHERE run=? AND task_name='rt_durable.big_text'",
        (run.name,),
    )
    assert rows[0]["size"] < 4096  # a reference, not the value
    stored = [p for p in (flyte_home / "data").rglob("*") if p.is_file() and p.stat().st_size >= n]
    assert stored, "the value was not written to the object store"
    (tmp_path / "go").touch()
    again = flyte.rerun(run.name, recover=True)
    assert again.outputs()[0] == n
    assert calls["big"] == 1
    rows = journal_rows(
        flyte_home,
        "SELECT length(inputs) AS size FROM actions WHERE run=? AND task_name='rt_durable.text_len'",
        (run.name,),
    )
    assert rows[0]["size"] < 4096  # large inputs are offloaded too


def test_large_run_inputs_are_offloaded(flyte_home: Path) -> None:
    text = "é" * (200 * 1024)
    run = flyte.run(text_len, text=text)
    assert run.outputs()[0] == len(text)
    size = journal_rows(flyte_home, "SELECT length(inputs) AS n FROM runs WHERE name=?", (run.name,))[0]["n"]
    assert size < 4096
    assert flyte.rerun(run.name, recover=False).outputs()[0] == len(text)  # inputs read back from the store


@flyte.trace
async def trace_one(x: int) -> int:
    return x


@flyte.trace
async def trace_two(x: int) -> int:
    return x


@env.task
async def trace_branching(workdir: str) -> int:
    if os.path.exists(os.path.join(workdir, "branch_b")):
        first = await trace_two(1)
    else:
        first = await trace_one(1)
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("failure after the first trace")
    return first


def test_other_trace_at_same_position_is_non_determinism(tmp_path: Path) -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(trace_branching, workdir=str(tmp_path))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    (tmp_path / "branch_b").touch()
    (tmp_path / "go").touch()
    with pytest.raises(Exception) as failed:
        flyte.rerun(run.name, recover=True)
    err = failed.value
    assert isinstance(err, flyte.errors.NonDeterminismError), repr(err)
    assert "trace_one" in str(err) and "trace_two" in str(err)


@env.task
async def stops_early(n: int) -> list[int]:
    out = []
    gen = t_agen(n)
    async for x in gen:
        out.append(x)
        break
    await gen.aclose()  # type: ignore[attr-defined]
    again = [x async for x in t_agen(n)]  # a complete pass afterwards is recorded as usual
    return [*out, *again]


def test_async_generator_trace_closed_early(flyte_home: Path) -> None:
    run = flyte.run(stops_early, n=3)
    assert run.outputs()[0] == [0, 0, 10, 20]
    rows = journal_rows(flyte_home, "SELECT status FROM actions WHERE run=? AND kind='trace'", (run.name,))
    assert [r["status"] for r in rows] == ["SUCCEEDED"]


# ---- recovering after the code was fixed ------------------------------------------------------------
EDITABLE = """
import os
import flyte

env = flyte.TaskEnvironment(name="editable")


def mark(workdir, what):
    with open(os.path.join(workdir, "marker.txt"), "a") as f:
        f.write(what + "\\n")


@env.task
async def one(x: int, workdir: str) -> int:
    mark(workdir, "one")
    return x


@env.task
async def two(x: int, workdir: str) -> int:
    mark(workdir, "two")
    return x * {two_factor}


@flyte.trace
async def t_a(workdir: str) -> int:
    mark(workdir, "t_a")
    return 1000


@flyte.trace
async def t_b(workdir: str) -> int:
    mark(workdir, "t_b")
    return {t_b_value}


@env.task
async def main(workdir: str) -> int:
    total = await one(1, workdir) + await two(2, workdir) + await t_a(workdir) + await t_b(workdir)
    {main_tail}
"""


def test_recover_after_fixing_the_parent_reuses_unchanged_children(tmp_path: Path, flyte_home: Path) -> None:
    mods, workdir = tmp_path / "mods", tmp_path / "work"
    mods.mkdir()
    workdir.mkdir()

    def write(**fmt: object) -> None:
        (mods / "editable.py").write_text(EDITABLE.format(**fmt))

    def cli_(*args: str) -> subprocess.CompletedProcess[str]:
        env_ = dict(os.environ, PYTHONPATH=str(mods), PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-c", "from flyte.cli.main import main; main()", *args]
        return subprocess.run(cmd, env=env_, capture_output=True, text=True, timeout=60)

    write(two_factor=10, t_b_value=1, main_tail='raise RuntimeError("a bug after the children")')
    first = cli_(
        "run", "--quiet", "--name", "fixme", str(mods / "editable.py"), "main", "--workdir", str(workdir)
    )
    assert first.returncode == 1, first.stderr
    assert Counter(marker_lines(workdir)) == {"one": 1, "two": 1, "t_a": 1, "t_b": 1}

    # fix the parent; also change `two` and trace `t_b`, but not `one` and `t_a`
    write(two_factor=100, t_b_value=2, main_tail="return total")
    again = cli_("rerun", "fixme")
    assert again.returncode == 0, again.stderr + again.stdout
    assert "outputs: 1203" in again.stdout  # 1 + 2 * 100 + 1000 + 2
    assert Counter(marker_lines(workdir)) == {"one": 1, "two": 2, "t_a": 1, "t_b": 2}


def test_failed_recovery_leaves_no_action_running(tmp_path: Path, flyte_home: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = spawn(
        "import flyte, crash_app;"
        f" flyte.with_runcontext(name='left').run(crash_app.main, n=4, workdir={str(workdir)!r})"
    )
    try:
        wait_until(lambda: count_status(flyte_home, "left", "crash_app.child", "SUCCEEDED") >= 2, proc)
    finally:
        kill9(proc)
    assert count_status(flyte_home, "left", "crash_app.child", "RUNNING") == 2  # blocked when killed
    (workdir / "diverge").touch()
    with pytest.raises(Exception) as failed:
        flyte.rerun("left", recover=True)  # recover=False is the default, as the reference SDK
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert isinstance(run.error, flyte.errors.NonDeterminismError)
    statuses = Counter(
        r["status"] for r in journal_rows(flyte_home, "SELECT status FROM actions WHERE run='left'")
    )
    assert statuses["RUNNING"] == 0
    assert count_status(flyte_home, "left", "crash_app.child", "ABORTED") == 2
