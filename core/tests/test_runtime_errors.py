"""Retries, timeouts, how a child's exception reaches its parent, and validation at task boundaries."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import flyte
import flyte.errors
import pydantic
import pytest
from conftest import journal_rows

env = flyte.TaskEnvironment(name="rt_err")
calls: Counter[str] = Counter()


def attempts_of(home: Path, run: str, task: str) -> list[tuple[int, str]]:
    rows = journal_rows(
        home,
        "SELECT t.attempt, t.status FROM attempts t JOIN actions a ON a.run=t.run AND a.action_id=t.action_id"
        " WHERE t.run=? AND a.task_name=? ORDER BY t.attempt",
        (run, task),
    )
    return [(r["attempt"], r["status"]) for r in rows]


def action_row(home: Path, run: str, task: str) -> dict[str, object]:
    rows = journal_rows(home, "SELECT * FROM actions WHERE run=? AND task_name=?", (run, task))
    assert len(rows) == 1, rows
    return dict(rows[0])


# ---- retries --------------------------------------------------------------------------------------
@env.task(retries=3)
async def flaky(fail_times: int) -> str:
    calls["flaky"] += 1
    c = flyte.ctx()
    assert c is not None
    if c.attempt < fail_times:
        raise ConnectionError(f"attempt {c.attempt} failed")
    return f"ok after {c.attempt}"


@env.task
async def calls_flaky(fail_times: int) -> str:
    return await flaky(fail_times)


def test_retries_then_success_records_attempts(flyte_home: Path) -> None:
    calls.clear()
    run = flyte.run(calls_flaky, fail_times=2)
    assert run.outputs()[0] == "ok after 2"
    assert calls["flaky"] == 3
    assert attempts_of(flyte_home, run.name, "rt_err.flaky") == [(0, "FAILED"), (1, "FAILED")]
    row = action_row(flyte_home, run.name, "rt_err.flaky")
    assert row["status"] == "SUCCEEDED" and row["attempts"] == 3


class Fatal(flyte.errors.NonRecoverableError):
    pass


@env.task(retries=3)
async def fatal() -> int:
    calls["fatal"] += 1
    raise Fatal("do not retry me")


@env.task
async def calls_fatal() -> str:
    try:
        await fatal()
    except Fatal as e:
        return f"caught {type(e).__name__} attempts={e.attempts}"  # type: ignore[attr-defined]
    return "no error"


def test_non_recoverable_error_is_not_retried(flyte_home: Path) -> None:
    calls.clear()
    run = flyte.run(calls_fatal)
    assert run.outputs()[0] == "caught Fatal attempts=1"
    assert calls["fatal"] == 1
    assert attempts_of(flyte_home, run.name, "rt_err.fatal") == [(0, "FAILED")]


@env.task(retries=2)
async def always_fails(x: int) -> int:
    calls["always"] += 1
    raise KeyError(f"missing {x}")


@env.task
async def catches_exhausted() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        await always_fails(1)
    except KeyError as e:
        out["as_original"] = type(e).__name__
        out["is_user_error"] = str(isinstance(e, flyte.errors.RuntimeUserError))
        out["is_exhausted"] = str(isinstance(e, flyte.errors.RetriesExhaustedError))
        out["code"] = e.code  # type: ignore[attr-defined]
        out["attempts"] = str(e.attempts)  # type: ignore[attr-defined]
        out["message"] = str(e)
    return out


def test_exhausted_retries_keep_the_original_type(flyte_home: Path) -> None:
    calls.clear()
    run = flyte.run(catches_exhausted)
    out = run.outputs()[0]
    assert out["as_original"] == "RetriesExhaustedError"  # caught as KeyError, named as the anchor names it
    assert out["is_user_error"] == "True"
    assert out["is_exhausted"] == "True"
    assert out["code"] == "KeyError"
    assert out["attempts"] == "3"
    assert "missing 1" in out["message"]
    assert calls["always"] == 3
    assert [s for _, s in attempts_of(flyte_home, run.name, "rt_err.always_fails")] == ["FAILED"] * 3
    row = action_row(flyte_home, run.name, "rt_err.always_fails")
    assert row["status"] == "FAILED" and row["attempts"] == 3
    err = json.loads(str(row["error"]))
    assert err["code"] == "KeyError" and "missing 1" in err["message"]


def test_run_of_exhausted_task_fails_with_original_type() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(always_fails, x=5)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    assert isinstance(run.error, KeyError)
    assert isinstance(run.error, flyte.errors.RetriesExhaustedError)


# ---- exceptions reach the parent as both types ----------------------------------------------------
class QuotaError(Exception):
    def __init__(self, user: str, limit: int) -> None:
        super().__init__(f"{user} is over {limit}")
        self.user = user
        self.limit = limit


@env.task
async def raises(kind: str) -> int:
    if kind == "value":
        raise ValueError("bad value")
    if kind == "quota":
        raise QuotaError("ann", 3)
    return 0


@env.task
async def catcher(kind: str) -> list[str]:
    seen = []
    try:
        await raises(kind)
    except ValueError as e:
        seen += ["ValueError", str(e)]
    except QuotaError as e:
        seen += ["QuotaError", e.user, str(e.limit)]
    try:
        await raises(kind)
    except flyte.errors.RuntimeUserError as e:
        seen += ["RuntimeUserError", e.code]
    return seen


def test_child_exception_is_original_type_and_runtime_user_error() -> None:
    assert flyte.run(catcher, kind="value").outputs()[0] == [
        "ValueError",
        "bad value",
        "RuntimeUserError",
        "ValueError",
    ]


def test_custom_exception_class_crosses_the_boundary() -> None:
    assert flyte.run(catcher, kind="quota").outputs()[0] == [
        "QuotaError",
        "ann",
        "3",
        "RuntimeUserError",
        "QuotaError",
    ]


@env.task
async def grand_parent() -> str:
    try:
        await catcher_reraise()
    except ValueError as e:
        return f"{type(e).__name__}:{e.code}"  # type: ignore[attr-defined]
    return "none"


@env.task
async def catcher_reraise() -> int:
    return await raises("value")


def test_exception_crosses_two_levels() -> None:
    assert flyte.run(grand_parent).outputs()[0] == "RuntimeUserError:ValueError"  # caught as ValueError


# ---- timeouts -------------------------------------------------------------------------------------
@env.task(timeout=0.3)
async def sleepy(secs: float) -> str:
    calls["sleepy"] += 1
    await asyncio.sleep(secs)
    return "woke"


@env.task(timeout=0.3, retries=2)
async def sleepy_retried(secs: float) -> str:
    calls["sleepy_retried"] += 1
    await asyncio.sleep(secs)
    return "woke"


def test_timeout_fails_fast_with_task_timeout_error(flyte_home: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(Exception) as failed:
        flyte.run(sleepy, secs=5.0)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert time.perf_counter() - t0 < 2.0
    assert isinstance(run.error, flyte.errors.TaskTimeoutError)
    assert "0.3" in str(run.error)


def test_timeout_is_retried_when_retries_remain(flyte_home: Path) -> None:
    calls.clear()
    t0 = time.perf_counter()
    with pytest.raises(Exception) as failed:
        flyte.run(sleepy_retried, secs=5.0)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert time.perf_counter() - t0 < 2.5
    assert isinstance(run.error, flyte.errors.TaskTimeoutError)
    assert calls["sleepy_retried"] == 3
    assert [s for _, s in attempts_of(flyte_home, run.name, "rt_err.sleepy_retried")] == ["FAILED"] * 3


@env.task
async def slow_grandchild(i: int) -> int:
    await asyncio.sleep(10)
    return i


@env.task(retries=10, timeout=flyte.Timeout(max_runtime=0.25, deadline=0.6))
async def with_deadline(n: int) -> int:
    calls["deadline"] += 1
    return sum(await asyncio.gather(*(slow_grandchild(i) for i in range(n))))


def test_deadline_stops_retries_and_aborts_children(flyte_home: Path) -> None:
    calls.clear()
    t0 = time.perf_counter()
    with pytest.raises(Exception) as failed:
        flyte.run(with_deadline, n=3)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0
    assert isinstance(run.error, flyte.errors.TaskTimeoutError)
    assert "deadline" in str(run.error)
    assert 2 <= calls["deadline"] <= 3  # 0.25 s attempts inside a 0.6 s deadline, not 11
    children = journal_rows(
        flyte_home,
        "SELECT status FROM actions WHERE run=? AND task_name='rt_err.slow_grandchild'",
        (run.name,),
    )
    assert children and {r["status"] for r in children} == {"ABORTED"}
    root = action_row(flyte_home, run.name, "rt_err.with_deadline")
    assert root["status"] == "FAILED"


_abandoned: set[asyncio.Future[int]] = set()


@env.task
async def abandons_children(n: int) -> int:
    for i in range(n):
        _abandoned.add(asyncio.ensure_future(slow_grandchild(i)))  # never awaited
    await asyncio.sleep(0.05)
    return n


def test_children_running_when_parent_ends_are_aborted(flyte_home: Path) -> None:
    t0 = time.perf_counter()
    run = flyte.run(abandons_children, n=2)
    assert run.outputs()[0] == 2
    assert time.perf_counter() - t0 < 2.0
    rows = journal_rows(
        flyte_home,
        "SELECT status FROM actions WHERE run=? AND task_name='rt_err.slow_grandchild'",
        (run.name,),
    )
    assert [r["status"] for r in rows] == ["ABORTED", "ABORTED"]


# ---- type validation ------------------------------------------------------------------------------
@env.task
async def needs_int(count: int) -> int:
    return count


@env.task
async def passes_str() -> int:
    return await needs_int("x")  # type: ignore[arg-type]


@env.task
async def bad_return(x: int) -> int:
    return "not an int"  # type: ignore[return-value]


def test_wrong_input_type_names_task_and_parameter() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(passes_str)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    err = run.error
    assert isinstance(err, flyte.errors.RuntimeDataValidationError), repr(err)
    assert "rt_err.needs_int" in str(err) and "'count'" in str(err)
    with pytest.raises(flyte.errors.RuntimeDataValidationError, match="count"):
        flyte.run(needs_int, count="x")


def test_wrong_return_type_fails() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(bad_return, x=1)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    err = run.error
    assert isinstance(err, flyte.errors.RuntimeDataValidationError), repr(err)
    assert "rt_err.bad_return" in str(err) and "return value" in str(err)


def test_bool_is_not_an_int_and_int_is_a_float() -> None:
    with pytest.raises(flyte.errors.RuntimeDataValidationError):
        flyte.run(needs_int, count=True)
    assert flyte.run(takes_float, x=3).outputs()[0] == 3.0


@env.task
async def takes_float(x: float) -> float:
    return float(x)


# ---- inline size limit ----------------------------------------------------------------------------
MiB = 1024 * 1024


@env.task
async def huge(n: int) -> str:
    return "y" * n


@env.task(max_inline_io_bytes=30 * MiB)
async def huge_allowed(n: int) -> str:
    return "y" * n


@env.task
async def takes_huge(text: str) -> int:
    return len(text)


@env.task
async def passes_huge(n: int) -> int:
    return await takes_huge("z" * n)


def test_inline_output_limit(flyte_home: Path) -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(huge, n=20 * MiB)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    err = run.error
    assert isinstance(err, flyte.errors.InlineIOMaxBytesBreached), repr(err)
    text = str(err)
    assert "rt_err.huge" in text and f"{10 * MiB:,}" in text and "flyte.io.File" in text
    assert "return value" in text


def test_inline_input_limit() -> None:
    with pytest.raises(flyte.errors.InlineIOMaxBytesBreached) as failed:
        flyte.run(passes_huge, n=11 * MiB)
    err = failed.value
    assert isinstance(err, flyte.errors.InlineIOMaxBytesBreached), repr(err)
    assert "rt_err.takes_huge" in str(err) and "'text'" in str(err)


def test_raised_inline_limit_passes(flyte_home: Path) -> None:
    run = flyte.run(huge_allowed, n=20 * MiB)
    assert len(run.outputs()[0]) == 20 * MiB
    # stored by reference in the object store, not in the journal
    rows = journal_rows(flyte_home, "SELECT length(outputs) AS n FROM actions WHERE run=?", (run.name,))
    assert rows[0]["n"] < 4096


@env.task(timeout=0.3, retries=1)
def sync_sleepy(secs: float) -> str:
    calls["sync_sleepy"] += 1
    time.sleep(secs)
    return "woke"


def test_sync_task_timeout(flyte_home: Path) -> None:
    calls.clear()
    t0 = time.perf_counter()
    with pytest.raises(Exception) as failed:
        flyte.run(sync_sleepy, secs=3.0)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert time.perf_counter() - t0 < 1.5
    assert isinstance(run.error, flyte.errors.TaskTimeoutError)
    assert calls["sync_sleepy"] == 2
    assert len(attempts_of(flyte_home, run.name, "rt_err.sync_sleepy")) == 2


# ---- exceptions that are awkward to combine with RuntimeUserError -----------------------------------
@env.task
async def raises_awkward(kind: str) -> int:
    if kind == "unicode":
        b"\xff".decode("utf-8")
    if kind == "oserror":
        open("/nonexistent/dir/file")
    if kind == "pydantic":
        pydantic.TypeAdapter(int).validate_python("nope")
    return 0


@env.task
async def catches_awkward(kind: str) -> list[str]:
    try:
        await raises_awkward(kind)
    except flyte.errors.RuntimeUserError as e:
        return [e.code, str(e), str(isinstance(e, (UnicodeDecodeError, FileNotFoundError)))]
    return []


def test_builtin_exception_keeps_its_message() -> None:
    code, msg, is_orig = flyte.run(catches_awkward, kind="unicode").outputs()[0]
    assert code == "UnicodeDecodeError" and "can't decode byte 0xff" in msg and is_orig == "True"
    code, msg, is_orig = flyte.run(catches_awkward, kind="oserror").outputs()[0]
    assert code == "FileNotFoundError" and "No such file" in msg and is_orig == "True"


def test_exception_that_cannot_be_rebuilt_still_reaches_the_parent() -> None:
    code, msg, _ = flyte.run(catches_awkward, kind="pydantic").outputs()[0]
    assert code == "ValidationError"
    assert "validation error" in msg


# ---- time waiting for a place (max_action_concurrency) --------------------------------------------
@env.task(timeout=flyte.Timeout(max_runtime=1.0))
async def short_job(i: int) -> int:
    # Runs 0.3 s, 0.7 s below its limit (room for a loaded machine); with 2 places, the last of 10
    # waits 1.2 s or more before it starts: over the limit, had the wait counted.
    await asyncio.sleep(0.3)
    return i


@env.task(timeout=flyte.Timeout(max_queued_time=0.8))
async def impatient(i: int) -> int:
    # One place (max_action_concurrency=1): action 0 gives it up at once, action 1 holds it for 2 s.
    # Action 1 waits about nothing, actions 2 and 3 wait 2 s or more: both are at least 0.8 s from the
    # limit, so a loaded machine (a slow start, a paused event loop) cannot change who times out.
    # (Equal holds of 0.3 s against a 0.45 s limit flaked on a loaded 2-core machine.)
    await asyncio.sleep(2.0 if i == 1 else 0.0)
    return i


@env.task
async def queue_of(n: int, patient: bool) -> list[str]:
    task = short_job if patient else impatient
    out = await asyncio.gather(*(task(i) for i in range(n)), return_exceptions=True)
    return [type(r).__name__ if isinstance(r, BaseException) else str(r) for r in out]


def test_max_runtime_does_not_count_time_waiting_for_a_place() -> None:
    run = flyte.with_runcontext(max_action_concurrency=2).run(queue_of, n=10, patient=True)
    assert run.outputs()[0] == [str(i) for i in range(10)]  # the last ones wait 1.2 s before they start


def test_max_queued_time() -> None:
    run = flyte.with_runcontext(max_action_concurrency=1).run(queue_of, n=4, patient=False)
    out = run.outputs()[0]
    assert out == ["0", "1", "MaxQueuedTimeExceededError", "MaxQueuedTimeExceededError"]
