"""The commonest child call (one primitive input, a plain async body run inline, no cache, retries or
timeout) takes ``Controller._submit_plain``, one frame instead of ``submit`` and ``_attempts`` (issue
20, seventh round). It must record exactly what the general path records: the same program is run
under the same run name in two homes, once with the fast path and once without, and every action and
attempt row must match but for the clock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import comparable_record, count_fast_path
from flyte._runtime import controller
from flyte.errors import StorageError
from flyte.testing._support import isolate

env = flyte.TaskEnvironment(name="plain_fast")

RAN: list[int] = []
FLAKY: dict[str, int] = {}


@env.task
async def inc(x: int) -> int:
    RAN.append(x)
    return x + 1


@env.task
async def shout(s: str) -> str:
    return s.upper() + "!"


@env.task
async def half(x: int) -> float:
    return x / 2


@env.task
async def boom(x: int) -> int:
    raise ValueError(f"bad {x}")


@env.task
async def nap(x: int) -> int:
    await asyncio.sleep(5)
    return x


@env.task
async def flaky(x: int) -> int:
    """Fails once with a system error (the store), then succeeds: a system retry."""
    FLAKY[str(x)] = FLAKY.get(str(x), 0) + 1
    if FLAKY[str(x)] == 1:
        raise StorageError("the store blinked")
    return x * 10


@env.task
async def middle(n: int) -> int:
    """A child that is not the root's: its children are tracked by their parent."""
    got = await asyncio.gather(*(inc(i) for i in range(n)), inc(0), inc(0))  # repeated calls: seq 0, 1, 2
    return sum(got)


@env.task
async def program(n: int) -> str:
    total = sum(await asyncio.gather(*(inc(i) for i in range(n))))
    total += await middle(3)
    words = await asyncio.gather(shout("a"), shout('q"\\'), shout("é"))
    halves = await asyncio.gather(half(3), half(4))
    errors = []
    try:
        await boom(7)
    except Exception as e:
        errors.append(type(e).__name__)
    try:
        await asyncio.wait_for(nap(1), 0.05)
    except TimeoutError:
        errors.append("timeout")
    retried = await flaky(2)
    return f"{total} {words} {halves} {errors} {retried}"


def _run_in(home_dir: Path, monkeypatch: pytest.MonkeyPatch, fast: bool) -> tuple[str, Any, Any, int]:
    monkeypatch.setattr(controller, "FAST_CALLS", fast)
    home_dir.mkdir()
    home = isolate(monkeypatch, home_dir)
    FLAKY.clear()
    taken = count_fast_path(monkeypatch)
    flyte.init()
    out = flyte.with_runcontext(name="same-run").run(program, n=20).outputs()[0]
    actions, attempts = comparable_record(home, "test_plain_fast_path")
    return out, actions, attempts, taken[0]


def test_fast_and_general_paths_record_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_SYSTEM_RETRY_DELAY", "0")
    out_fast, actions_fast, attempts_fast, taken = _run_in(tmp_path / "fast", monkeypatch, True)
    out_slow, actions_slow, attempts_slow, not_taken = _run_in(tmp_path / "slow", monkeypatch, False)
    assert taken >= 20 + 5 + 3 + 2 + 3 and not_taken == 0  # every eligible call went its own way
    words = "['A!', 'Q\"\\\\!', 'É!']"
    total = sum(range(1, 21)) + 1 + 2 + 3 + 1 + 1
    expected = f"{total} {words} [1.5, 2.0] ['RuntimeUserError', 'timeout'] 20"
    assert out_fast == out_slow == expected
    assert len(actions_fast) == 1 + 20 + 1 + 5 + 3 + 2 + 1 + 1 + 1
    assert actions_fast == actions_slow
    statuses = sorted({r[8] for r in actions_fast})
    assert statuses == ["ABORTED", "FAILED", "SUCCEEDED"]
    assert sorted(r[3] for r in attempts_fast) == ["ABORTED", "FAILED", "FAILED"]  # nap, boom, flaky
    assert attempts_fast == attempts_slow
    failed = [r for r in actions_fast if r[8] == "FAILED"]
    assert failed and failed[0][13][1], failed  # the user's raising line is in the record


@env.task
async def call_without_await() -> int:
    pending = inc(100)  # a coroutine: nothing may run until it is awaited
    await asyncio.sleep(0.01)
    ran_before = 100 in RAN
    pending.close()
    return int(ran_before)


def test_a_call_not_awaited_does_not_run() -> None:
    RAN.clear()
    assert flyte.run(call_without_await).outputs()[0] == 0
    assert 100 not in RAN
