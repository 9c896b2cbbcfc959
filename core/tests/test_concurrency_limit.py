"""with_runcontext(max_action_concurrency=N) bounds running actions without deadlocking parents."""

import asyncio
from pathlib import Path

import flyte
import pytest

env = flyte.TaskEnvironment(name="limits")
state = {"now": 0, "peak": 0}


@env.task
async def leaf(i: int) -> int:
    state["now"] += 1
    state["peak"] = max(state["peak"], state["now"])
    await asyncio.sleep(0.02)
    state["now"] -= 1
    return i


@env.task
async def middle(k: int) -> int:
    return sum(await asyncio.gather(*(leaf(k * 10 + j) for j in range(5))))


@env.task
async def root(n: int) -> int:
    return sum(await asyncio.gather(*(middle(k) for k in range(n))))


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import flyte._config

    monkeypatch.setenv("FLYTE_HOME", str(tmp_path))
    flyte._config._settings = None
    state.update(now=0, peak=0)


def test_limit_bounds_running_leaves_and_nested_parents_do_not_deadlock() -> None:
    run = flyte.with_runcontext(max_action_concurrency=3).run(root, n=6)
    expected = sum(k * 10 + j for k in range(6) for j in range(5))
    assert run.outputs()[0] == expected
    assert state["peak"] <= 3


def test_without_a_limit_leaves_run_together() -> None:
    run = flyte.run(root, n=6)
    assert run.status == "SUCCEEDED"
    assert state["peak"] == 30
