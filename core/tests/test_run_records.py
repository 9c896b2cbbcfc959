"""The journal tells the truth: outputs come back exactly as produced (first run, cache hit, recovery),
recovery keeps the original run's times as segments, an interrupted run's duration is fixed, every
attempt's error is kept and shown, and CLI mistakes print one line, never a traceback."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import flyte
import pydantic
import pytest
from click.testing import CliRunner
from conftest import journal_rows, spawn
from flyte.cli.main import cli

env = flyte.TaskEnvironment(name="run_records")


@dataclasses.dataclass
class Point:
    y: float
    x: int
    tags: tuple[str, ...] = ()


class Model(pydantic.BaseModel):
    b: int
    a: str = "unset"
    c: dict[str, int] = {}


def _values() -> dict[str, Any]:
    return {
        "zebra": {"z": 1, "a": 2, "m": {"y": 1.5, "b": [3, 2, 1]}},
        "ints": {3, 1, 2, 10**30},
        "strs": frozenset({"q", "b", "zz", "a"}),
        "point": Point(y=-0.0, x=10**40, tags=("b", "a")),
        "model": Model(b=2),
        "model_all": Model(b=1, a="x", c={"z": 1, "a": 2}),
        "tuple": (1, "a", 2.5, None),
        "floats": [float("nan"), -0.0, 1e308, float("inf"), 0.1],
        "big": -(10**50),
    }


@env.task(cache="auto")
async def produce_dict(k: str) -> dict[str, Any]:
    return dict(_values()[k]) if isinstance(_values()[k], dict) else {"v": _values()[k]}


@env.task(cache="auto")
async def produce_set(k: str) -> set[int]:
    return set(_values()[k])


@env.task(cache="auto")
async def produce_frozenset(k: str) -> frozenset[str]:
    return frozenset(_values()[k])


@env.task(cache="auto")
async def produce_point(k: str) -> Point:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_model(k: str) -> Model:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_tuple(k: str) -> tuple[int, str, float, None]:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_floats(k: str) -> list[float]:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_int(k: str) -> int:
    return _values()[k]  # type: ignore[no-any-return]


@env.task(cache="auto")
async def produce_any(k: str) -> Any:
    return _values()[k]


def _fast_pickle(v: Any) -> bytes:
    import io

    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=5)
    p.fast = True  # no memo: two equal strings pickle the same whether or not they are one object
    p.dump(v)
    return buf.getvalue()


@env.task
async def collect(workdir: str, tag: str) -> int:
    got = [
        await produce_dict("zebra"),
        await produce_set("ints"),
        await produce_frozenset("strs"),
        await produce_point("point"),
        await produce_model("model"),
        await produce_model("model_all"),
        await produce_tuple("tuple"),
        await produce_floats("floats"),
        await produce_int("big"),
        await produce_any("zebra"),
        await produce_any("point"),
        await produce_any("tuple"),
    ]
    # each value pickled alone, its memo off: the bytes say what a value is, not which objects it shares
    Path(workdir, tag).write_bytes(b"\n--\n".join(_fast_pickle(v) for v in got))
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("stop after the children")
    return len(got)


def test_outputs_come_back_exactly_as_produced(tmp_path: Path, flyte_home: Path) -> None:
    with pytest.raises(RuntimeError) as failed:
        flyte.run(collect, workdir=str(tmp_path), tag="first")
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    first = (tmp_path / "first").read_bytes()
    got = [pickle.loads(b) for b in first.split(b"\n--\n")]
    assert list(got[0]) == ["z", "a", "m"] and list(got[0]["m"]) == ["y", "b"]  # not sorted
    assert got[4].model_fields_set == {"b"}
    (tmp_path / "go").touch()
    recovered = flyte.rerun(run.name, recover=True)  # every child replayed from the journal
    assert recovered.status == "SUCCEEDED", recovered.error
    cached = flyte.run(collect, workdir=str(tmp_path), tag="cached")  # a new run: every child a cache hit
    assert cached.outputs()[0] == 12
    # A set of strings iterates in an order that depends on its insertion history (hash collisions),
    # which no round trip (pickle included) keeps: those values (the frozenset, a model's fields_set)
    # are compared as values plus their key/field order; everything else byte for byte.
    loose = {2, 4, 5}
    for tag in ("first", "cached"):
        after = (tmp_path / tag).read_bytes().split(b"\n--\n")
        for i, (a, b) in enumerate(zip(first.split(b"\n--\n"), after)):
            va, vb = pickle.loads(a), pickle.loads(b)
            if i in loose:
                assert va == vb and type(va) is type(vb), (tag, i, va, vb)
                if isinstance(va, Model):
                    assert va.model_fields_set == vb.model_fields_set
                    assert list(va.c) == list(vb.c)
            else:
                assert a == b, (tag, i, va, vb)


# ---- recovery is a new segment; the first execution keeps its times --------------------------------
@env.task
async def slow_then_fail(workdir: str) -> int:
    if not os.path.exists(os.path.join(workdir, "go")):
        time.sleep(0.4)
        raise ValueError("not ready yet")
    return 7


def _show_json(name: str) -> dict[str, Any]:
    res = CliRunner().invoke(cli, ["runs", "show", name, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)  # type: ignore[no-any-return]


def test_recovery_keeps_the_first_start_and_adds_a_segment(tmp_path: Path, flyte_home: Path) -> None:
    with pytest.raises(ValueError) as failed:
        flyte.run(slow_then_fail, workdir=str(tmp_path))
    name = failed.value.flyte_run.name  # type: ignore[attr-defined]
    before = journal_rows(flyte_home, "SELECT started_at, ended_at FROM runs WHERE name=?", (name,))[0]
    assert before["ended_at"] - before["started_at"] >= 0.4
    (tmp_path / "go").touch()
    assert flyte.rerun(name, recover=True).outputs()[0] == 7
    after = journal_rows(flyte_home, "SELECT started_at, ended_at, status FROM runs WHERE name=?", (name,))[0]
    assert after["started_at"] == before["started_at"]  # not the recovery's start
    assert after["ended_at"] > before["ended_at"] and after["status"] == "SUCCEEDED"
    shown = _show_json(name)
    segs = shown["run"]["segments"]
    assert [s["status"] for s in segs] == ["FAILED", "SUCCEEDED"]
    assert segs[0]["started_at"] == before["started_at"] and segs[0]["ended_at"] == before["ended_at"]
    assert "not ready yet" in segs[0]["error"]
    assert segs[1]["started_at"] >= segs[0]["ended_at"]
    assert shown["run"]["duration"] == pytest.approx(segs[0]["duration"] + segs[1]["duration"])
    assert shown["run"]["duration"] >= 0.4  # the 400 ms first execution is not lost
    text = CliRunner().invoke(cli, ["runs", "show", name]).output
    assert "first run" in text and "recovery 1" in text and "FAILED" in text
    listed = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["runs", "list"]).output
    row = next(ln for ln in listed.splitlines() if name in ln)
    cell = row.split("│")[5].strip()
    secs = float(cell[:-2]) / 1000 if cell.endswith("ms") else float(cell.rstrip("s"))
    assert secs >= 0.4, row
    assert "summed over the first run and its recoveries" in listed


def test_a_journal_without_the_segments_table_gets_it(tmp_path: Path, flyte_home: Path) -> None:
    import sqlite3

    with pytest.raises(ValueError) as failed:
        flyte.run(slow_then_fail, workdir=str(tmp_path))
    name = failed.value.flyte_run.name  # type: ignore[attr-defined]
    started = journal_rows(flyte_home, "SELECT started_at FROM runs WHERE name=?", (name,))[0]["started_at"]
    from flyte._runtime import journal as jmod

    j = jmod._journals.pop(os.path.abspath(flyte_home / "journal.db"))
    j.close()
    conn = sqlite3.connect(flyte_home / "journal.db")
    conn.execute("DROP TABLE segments")  # as a journal written before segments existed
    conn.commit()
    conn.close()
    (tmp_path / "go").touch()
    assert flyte.rerun(name, recover=True).outputs()[0] == 7
    segs = _show_json(name)["run"]["segments"]
    assert [s["status"] for s in segs] == ["FAILED", "SUCCEEDED"]
    assert segs[0]["started_at"] == started


def _kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_interrupted_run_has_a_fixed_duration_and_recovery_keeps_it(tmp_path: Path, flyte_home: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = spawn(
        "import flyte, crash_app;"
        f" flyte.with_runcontext(name='killed').run(crash_app.main, n=4, workdir={str(workdir)!r})"
    )
    try:
        end = time.time() + 30
        while time.time() < end:
            try:
                n = journal_rows(
                    flyte_home,
                    "SELECT COUNT(*) AS n FROM actions WHERE run='killed' AND status='SUCCEEDED'"
                    " AND task_name='crash_app.child'",
                )[0]["n"]
            except Exception:
                n = 0
            if n >= 2:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        time.sleep(0.3)  # the process lives on, blocked, after its last journal write
    finally:
        _kill9(proc)
    first = _show_json("killed")
    assert first["run"]["effective_status"] == "INTERRUPTED"
    last = max(
        t
        for r in journal_rows(flyte_home, "SELECT started_at, ended_at FROM actions WHERE run='killed'")
        for t in (r["started_at"], r["ended_at"])
        if t is not None
    )
    started = first["run"]["started_at"]
    assert first["run"]["duration"] == pytest.approx(last - started)  # up to its last write, not now
    time.sleep(0.3)
    assert _show_json("killed")["run"]["duration"] == first["run"]["duration"]  # does not grow
    from flyte.ui._data import JournalReader

    gone = JournalReader(str(flyte_home / "journal.db")).get_run("killed")
    assert gone is not None and gone.active_seconds == pytest.approx(first["run"]["duration"])
    (workdir / "go").touch()
    assert flyte.rerun("killed", recover=True).status == "SUCCEEDED"
    shown = _show_json("killed")
    segs = shown["run"]["segments"]
    assert [s["status"] for s in segs] == ["INTERRUPTED", "SUCCEEDED"]
    assert segs[0]["started_at"] == started and segs[0]["ended_at"] == pytest.approx(last)
    assert shown["run"]["started_at"] == started
    viewer = JournalReader(str(flyte_home / "journal.db")).get_run("killed")  # `flyte ui` agrees
    assert viewer is not None and viewer.segments == 2
    assert viewer.active_seconds == pytest.approx(shown["run"]["duration"])


# ---- every attempt's error is kept and shown ---------------------------------------------------------
@env.task(retries=1)
async def flaky(workdir: str) -> int:
    marker = Path(workdir, "tries")
    n = int(marker.read_text()) if marker.exists() else 0
    marker.write_text(str(n + 1))
    if not Path(workdir, "go").exists():
        raise KeyError(f"missing piece {n}")  # the line --traceback must point at
    return n


@env.task
async def calls_flaky(workdir: str) -> int:
    return await flaky(workdir)


def test_each_failed_attempt_is_kept_across_recoveries_and_shown(tmp_path: Path, flyte_home: Path) -> None:
    with pytest.raises(KeyError) as failed:
        flyte.run(calls_flaky, workdir=str(tmp_path))
    name = failed.value.flyte_run.name  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        flyte.rerun(name, recover=True)  # fails again: two more attempts
    (tmp_path / "go").touch()
    assert flyte.rerun(name, recover=True).outputs()[0] == 4
    rows = journal_rows(
        flyte_home,
        "SELECT a.attempt, a.status, a.error FROM attempts a JOIN actions c"
        " ON a.run=c.run AND a.action_id=c.action_id WHERE a.run=? AND c.task_name LIKE '%.flaky'"
        " ORDER BY a.attempt",
        (name,),
    )
    assert [r["status"] for r in rows] == ["FAILED"] * 4  # the 5th (successful) attempt writes no row
    assert [json.loads(r["error"])["message"] for r in rows] == [f"'missing piece {i}'" for i in range(4)]
    flaky_row = journal_rows(
        flyte_home, "SELECT attempts FROM actions WHERE run=? AND task_name LIKE '%.flaky'", (name,)
    )[0]
    assert flaky_row["attempts"] == 5
    text = CliRunner().invoke(cli, ["runs", "show", name]).output
    for i in range(4):
        assert f"attempt {i + 1}: KeyError: 'missing piece {i}'" in text
    tb = CliRunner().invoke(cli, ["runs", "show", name, "--traceback"]).output
    line = next(i for i, ln in enumerate(Path(__file__).read_text().splitlines(), 1) if "must point at" in ln)
    assert f'{Path(__file__).resolve()}", line {line}, in flaky' in tb or f"line {line}, in flaky" in tb
    assert "flyte/_runtime" not in tb  # the framework's frames are left out
    shown = _show_json(name)
    recs = next(a for a in shown["actions"] if a["task_name"].endswith(".flaky"))["attempt_records"]
    assert [r["attempt"] for r in recs] == [0, 1, 2, 3]


# ---- CLI mistakes: one line, what is wrong and the fix, never a traceback --------------------------
BAD_MODULE = """import flyte
env = flyte.TaskEnvironment(name="bad", resources=flyte.Resources(memory="4 gigs"))

@env.task
async def t(x: int) -> int:
    return x
"""

GOOD_MODULE = """import flyte
env = flyte.TaskEnvironment(name="good")

@env.task
async def double(x: int) -> int:
    return 2 * x

@env.task
async def t(x: int) -> int:
    if x < 0:
        raise ValueError("x must be >= 0")
    y = await double(x)
    if x == 3:
        raise ValueError("three is not allowed")
    return y
"""


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _one_line_error(res: Any) -> str:
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    return lines[0]


def test_cli_mistakes_print_one_line_without_a_traceback(tmp_path: Path, flyte_home: Path) -> None:
    line = _one_line_error(_cli("rerun", "nosuchrun", "--recover"))
    assert "nosuchrun" in line and "flyte runs list" in line
    _one_line_error(_cli("runs", "show", "nosuchrun"))
    (tmp_path / "bad.py").write_text(BAD_MODULE)
    line = _one_line_error(_cli("run", str(tmp_path / "bad.py"), "t", "--x", "1"))
    assert "memory='4 gigs'" in line and "'4Gi'" in line  # what is wrong, and the fix
    assert f"{tmp_path / 'bad.py'}:2" in line  # where
    (tmp_path / "good.py").write_text(GOOD_MODULE)
    line = _one_line_error(_cli("run", str(tmp_path / "good.py"), "t", "--x", "notanint"))
    assert "'--x'" in line and "notanint" in line


def test_task_failure_prints_the_error_where_and_the_recover_hint_when_it_helps(
    tmp_path: Path, flyte_home: Path
) -> None:
    (tmp_path / "good.py").write_text(GOOD_MODULE)
    res = _cli("run", str(tmp_path / "good.py"), "t", "--x", "-1")  # fails before any child succeeded
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "error: ValueError: x must be >= 0" in res.output
    assert f"at {tmp_path / 'good.py'}:11 in t" in res.output
    assert "--recover" not in res.output  # nothing to reuse: a recovery would redo everything
    res = _cli("run", str(tmp_path / "good.py"), "t", "--x", "3")  # fails after double(3) succeeded
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "error: ValueError: three is not allowed" in res.output
    assert f"at {tmp_path / 'good.py'}:14 in t" in res.output
    assert "--recover" in res.output
