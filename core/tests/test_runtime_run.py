"""flyte.run / Run / with_runcontext, concurrency of async and sync tasks, map, group, custom_context."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from pathlib import Path

import flyte
import flyte.errors
import pytest
from conftest import journal_rows

env = flyte.TaskEnvironment(name="rt_run")


@env.task
async def square(x: int) -> int:
    return x * x


@env.task
async def total(n: int) -> int:
    return sum(await asyncio.gather(*(square(i) for i in range(n))))


# ---- Run, names ----------------------------------------------------------------------------------
def test_run_returns_run_with_name_url_status_outputs() -> None:
    run = flyte.run(total, n=4)
    assert isinstance(run, flyte.Run)
    assert run.name and run.status == "SUCCEEDED"
    assert run.name in run.url
    assert run.outputs()[0] == 0 + 1 + 4 + 9
    assert run.wait() is None and run.done() and run.phase == "succeeded"  # as the reference SDK


def test_run_positional_inputs_and_named_run(flyte_home: Path) -> None:
    run = flyte.with_runcontext(name="my-run").run(total, 3)
    assert run.name == "my-run"
    assert run.outputs()[0] == 5
    rows = journal_rows(flyte_home, "SELECT name, status, task_name FROM runs")
    assert [tuple(r) for r in rows] == [("my-run", "SUCCEEDED", "rt_run.total")]


def test_duplicate_run_name_errors() -> None:
    flyte.with_runcontext(name="dup").run(square, x=2)
    with pytest.raises(flyte.errors.InitializationError, match="dup"):
        flyte.with_runcontext(name="dup").run(square, x=3)


def test_failed_run_reports_status_and_reraises() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(boom, msg="bad")
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    assert isinstance(run.error, ValueError)
    with pytest.raises(ValueError, match="bad"):
        run.outputs()[0]


@env.task
async def boom(msg: str) -> int:
    raise ValueError(msg)


async def test_run_from_inside_a_running_loop() -> None:
    """flyte.run called where a loop already runs (e.g. a notebook) executes on its own thread."""
    run = flyte.run(total, n=3)
    assert run.outputs()[0] == 5
    run2 = await flyte.run.aio(total, n=2)
    assert run2.outputs()[0] == 1


# ---- outside a run: plain calls -------------------------------------------------------------------
@env.task
def sync_double(x: int) -> int:
    return 2 * x


def test_outside_a_run_tasks_are_plain_calls() -> None:
    coro = square(7)
    assert asyncio.iscoroutine(coro)
    assert asyncio.run(coro) == 49
    assert sync_double(4) == 8
    assert asyncio.run(total(3)) == 5  # children are plain calls too
    assert not flyte.ctx() and flyte.ctx().action is None  # a falsy context, fields None


# ---- concurrency --------------------------------------------------------------------------------
@env.task
async def nap(i: int) -> int:
    await asyncio.sleep(0.2)
    return i


@env.task
async def naps(n: int) -> list[int]:
    return list(await asyncio.gather(*(nap(i) for i in range(n))))


def test_async_children_run_concurrently() -> None:
    t0 = time.perf_counter()
    run = flyte.run(naps, n=20)
    elapsed = time.perf_counter() - t0
    assert run.outputs()[0] == list(range(20))
    assert elapsed < 1.5, f"20 x 0.2 s children took {elapsed:.2f}s: not concurrent"


_sync_lock = threading.Lock()
_sync_state = {"now": 0, "max": 0, "threads": set()}


@env.task
def sync_nap(i: int) -> int:
    with _sync_lock:
        _sync_state["now"] += 1
        _sync_state["max"] = max(_sync_state["max"], _sync_state["now"])
        _sync_state["threads"].add(threading.get_ident())
    time.sleep(0.05)
    with _sync_lock:
        _sync_state["now"] -= 1
    return i


@env.task
async def sync_fan(n: int) -> list[int]:
    return list(await asyncio.gather(*(sync_nap.aio(i) for i in range(n))))


def test_sync_tasks_run_on_a_bounded_pool() -> None:
    _sync_state.update(now=0, max=0, threads=set())
    main_thread = threading.get_ident()
    t0 = time.perf_counter()
    run = flyte.run(sync_fan, n=80)
    elapsed = time.perf_counter() - t0
    assert run.outputs()[0] == list(range(80))
    assert 1 < _sync_state["max"] <= 32, _sync_state["max"]  # concurrent, but bounded
    assert main_thread not in _sync_state["threads"]
    assert elapsed < 80 * 0.05 / 2


@env.task
async def calls_sync_without_aio(x: int) -> int:
    return sync_double(x)


@env.task
async def calls_sync_with_aio(x: int) -> int:
    return await sync_double.aio(x)


def test_sync_task_from_async_without_aio_raises() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(calls_sync_without_aio, x=2)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    assert isinstance(run.error, flyte.errors.SyncTaskCallInAsyncContextError)
    assert "aio" in str(run.error)


def test_sync_task_from_async_with_aio_works() -> None:
    assert flyte.run(calls_sync_with_aio, x=21).outputs()[0] == 42


@env.task
def sync_parent(n: int) -> int:
    a = sync_double(n)  # sync child from a sync parent: a blocking call
    results = list(flyte.map(square, range(n)))  # async children from sync code
    return a + sum(results)


def test_sync_parent_calls_children(flyte_home: Path) -> None:
    run = flyte.run(sync_parent, n=4)
    assert run.outputs()[0] == 8 + (0 + 1 + 4 + 9)
    rows = journal_rows(flyte_home, "SELECT task_name, status FROM actions WHERE run=?", (run.name,))
    names = sorted(r["task_name"] for r in rows)
    assert names == sorted(["rt_run.sync_parent", "rt_run.sync_double"] + ["rt_run.square"] * 4)
    assert {r["status"] for r in rows} == {"SUCCEEDED"}


# ---- map -----------------------------------------------------------------------------------------
_inflight = {"now": 0, "max": 0}


@env.task
async def tracked(x: int) -> int:
    _inflight["now"] += 1
    _inflight["max"] = max(_inflight["max"], _inflight["now"])
    await asyncio.sleep(0.02)
    _inflight["now"] -= 1
    if x < 0:
        raise ValueError(f"negative {x}")
    return x * 10


@env.task
def map_sync_parent(items: list[int], concurrency: int) -> list[int]:
    return list(flyte.map(tracked, items, concurrency=concurrency))


@env.task
async def map_async_parent(items: list[int], concurrency: int) -> list[int]:
    return [x async for x in flyte.map.aio(tracked, items, concurrency=concurrency)]


@pytest.mark.parametrize("parent", [map_sync_parent, map_async_parent], ids=["sync", "aio"])
def test_map_order_and_concurrency_bound(parent: flyte.TaskTemplate, flyte_home: Path) -> None:
    _inflight.update(now=0, max=0)
    items = list(range(30, 0, -1))
    run = flyte.run(parent, items=items, concurrency=4)
    assert run.outputs()[0] == [x * 10 for x in items]
    assert _inflight["max"] == 4
    groups = journal_rows(
        flyte_home,
        "SELECT DISTINCT group_name FROM actions WHERE run=? AND task_name='rt_run.tracked'",
        (run.name,),
    )
    assert [g["group_name"] for g in groups] == ["map_tracked"]


def test_map_unbounded_runs_all_at_once() -> None:
    _inflight.update(now=0, max=0)
    assert flyte.run(map_async_parent, items=list(range(25)), concurrency=0).outputs()[0] == [
        x * 10 for x in range(25)
    ]
    assert _inflight["max"] == 25


@env.task
async def map_exceptions(return_exceptions: bool) -> list[str]:
    out = []
    async for r in flyte.map.aio(tracked, [1, -2, 3], return_exceptions=return_exceptions):
        out.append(type(r).__name__ if isinstance(r, BaseException) else str(r))
    return out


def test_map_return_exceptions() -> None:
    got = flyte.run(map_exceptions, return_exceptions=True).outputs()[0]
    assert got == ["10", "RuntimeUserError", "30"]  # the anchor's name; still a ValueError
    with pytest.raises(Exception) as failed:
        flyte.run(map_exceptions, return_exceptions=False)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert isinstance(run.error, ValueError)
    assert "negative -2" in str(run.error)


def test_map_outside_a_run() -> None:
    assert list(flyte.map(sync_double, [1, 2, 3])) == [2, 4, 6]
    assert list(flyte.map(square, [1, 2, 3])) == [1, 4, 9]


# ---- group and custom_context -------------------------------------------------------------------
@env.task
async def report_ctx(tag: str) -> dict[str, str]:
    c = flyte.ctx()
    assert c is not None
    return {"tag": tag, "group": c.group or "", **c.custom_context}


@env.task
async def nested_ctx(tag: str) -> dict[str, str]:
    return await report_ctx(tag)  # grandchild: custom context inherited through two levels


@env.task
async def grouped() -> list[dict[str, str]]:
    with flyte.group("stage-1"):
        a = await report_ctx("a")
    with flyte.custom_context(team="ml", tier="gold"):
        b = await nested_ctx("b")
        with flyte.custom_context(tier="silver"):
            c = await report_ctx("c")
    d = await report_ctx("d")
    return [a, b, c, d]


def test_group_and_custom_context(flyte_home: Path) -> None:
    run = flyte.run(grouped)
    a, b, c, d = run.outputs()[0]
    assert a == {"tag": "a", "group": "stage-1"}
    assert b == {"tag": "b", "group": "", "team": "ml", "tier": "gold"}
    assert c == {"tag": "c", "group": "", "team": "ml", "tier": "silver"}
    assert d == {"tag": "d", "group": ""}
    rows = journal_rows(
        flyte_home,
        "SELECT group_name FROM actions"
        " WHERE run=? AND task_name='rt_run.report_ctx' AND group_name IS NOT NULL",
        (run.name,),
    )
    assert [r["group_name"] for r in rows] == ["stage-1"]


def test_ctx_exposes_run_and_action() -> None:
    run = flyte.with_runcontext(name="ctx-run").run(ctx_info)
    info = run.outputs()[0]
    assert info["run"] == "ctx-run"
    assert info["action_name"] == "rt_run.ctx_info"
    assert info["attempt"] == 0
    assert info["action_id"] and info["action_id"] != "ctx-run"


@env.task
async def ctx_info() -> dict[str, object]:
    c = flyte.ctx()
    assert c is not None
    return {"run": c.run_name, "action_name": c.action_name, "attempt": c.attempt, "action_id": c.action_id}


@env.task
async def map_without_aio(n: int) -> list[int]:
    return list(flyte.map(square, range(n)))


def test_map_in_async_code_without_aio_raises_instead_of_hanging() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(map_without_aio, n=2)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert isinstance(run.error, flyte.errors.SyncTaskCallInAsyncContextError)
    assert "flyte.map.aio" in str(run.error)


# ---- nested sync tasks do not exhaust the bounded pool ---------------------------------------------
@env.task
def sync_chain(depth: int) -> int:
    return 0 if depth == 0 else sync_chain(depth - 1) + 1


@env.task
def sync_mid(x: int) -> int:
    return sync_double(x) + 1


@env.task
def sync_map_root(n: int) -> int:
    return sum(flyte.map(sync_mid, range(n)))


def test_deeply_nested_sync_tasks_do_not_deadlock() -> None:
    # deeper / wider than the pool (min(32, cpus + 4) threads): each waiting parent gives up its place
    assert flyte.run(sync_chain, depth=40).outputs()[0] == 40
    assert flyte.run(sync_map_root, n=40).outputs()[0] == sum(2 * i + 1 for i in range(40))


@env.task
def sync_gathers(n: int) -> list[int]:
    async def both() -> list[int]:
        return list(await asyncio.gather(*(square.aio(i) for i in range(n))))

    return asyncio.run(both())  # an event loop of the task's own, on its worker thread


def test_sync_task_awaiting_children_on_its_own_loop() -> None:
    assert flyte.run(sync_gathers, n=4).outputs()[0] == [0, 1, 4, 9]


# ---- several runs at once in one process ----------------------------------------------------------
def test_concurrent_runs_in_one_process(flyte_home: Path) -> None:
    results: dict[int, int] = {}

    def go(i: int) -> None:
        results[i] = flyte.with_runcontext(name=f"thread-{i}").run(total, n=300).outputs()[0]

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a run hung"
    assert results == {i: sum(x * x for x in range(300)) for i in range(4)}
    rows = journal_rows(
        flyte_home, "SELECT run, COUNT(*) AS n FROM actions WHERE status='SUCCEEDED' GROUP BY run"
    )
    assert {r["run"]: r["n"] for r in rows} == {f"thread-{i}": 301 for i in range(4)}


async def test_concurrent_runs_with_run_aio() -> None:
    runs = await asyncio.gather(*(flyte.run.aio(total, n=50 + i) for i in range(4)))
    assert [r.outputs()[0] for r in runs] == [sum(x * x for x in range(50 + i)) for i in range(4)]


# ---- max_action_concurrency -----------------------------------------------------------------------
@env.task
async def nested_tracked(width: int) -> int:
    return sum(await asyncio.gather(*(tracked(i) for i in range(width))))


@env.task
async def tracked_tree(width: int) -> int:
    return sum(await asyncio.gather(*(nested_tracked(width) for _ in range(width))))


def test_max_action_concurrency_bounds_running_actions() -> None:
    _inflight.update(now=0, max=0)
    run = flyte.with_runcontext(max_action_concurrency=3).run(tracked_tree, width=5)
    assert run.outputs()[0] == 5 * sum(i * 10 for i in range(5))
    assert _inflight["max"] == 3  # waiting parents do not hold places, so the tree cannot deadlock


@env.task
async def scaled_add(x: int, scale: int) -> int:
    return x * scale


@env.task
async def map_partial(items: list[int]) -> list[int]:
    return [r async for r in flyte.map.aio(functools.partial(scaled_add, scale=3), items, concurrency=2)]


def test_map_with_partial() -> None:
    assert flyte.run(map_partial, items=[1, 2, 3]).outputs()[0] == [3, 6, 9]
    assert list(flyte.map(functools.partial(scaled_add, scale=2), [1, 2])) == [2, 4]  # outside a run
