"""Quick process-mode children sent to a worker ahead of the one it runs (used by
``core/tests/test_workers_ahead.py``): each records when it ran, where, and what waited behind it."""

from __future__ import annotations

import asyncio
import os
import time

import flyte

env = flyte.TaskEnvironment("ahead", resources=flyte.Resources(cpu=1), isolation="process")
parents = flyte.TaskEnvironment("ahead_parent", isolation="inline")  # its cancels reach the driver


def _waiting_here() -> int:
    from flyte._runtime.placement import worker_main

    w = worker_main.CURRENT
    return len(w.queued) if w is not None else -1


@env.task
async def step(i: int, secs: float, crash_at: int) -> tuple[int, int, float, float, int]:
    """(i, pid, start, end, actions waiting in this worker when it ended)."""
    if i == crash_at:
        os._exit(3)
    start = time.time()
    await asyncio.sleep(secs)
    return i, os.getpid(), start, time.time(), _waiting_here()


@env.task
async def hold(i: int, secs: float, marks: str) -> tuple[int, int]:
    with open(os.path.join(marks, str(i)), "w"):
        pass
    await asyncio.sleep(secs)
    return i, os.getpid()


@parents.task
async def fan(n: int, secs: float, crash_at: int = -99) -> list[object]:
    await step(-1, secs, crash_at)  # a first result: how long this task's actions take
    every = asyncio.gather(*(step(i, secs, crash_at) for i in range(n)), return_exceptions=True)
    got = await asyncio.wait_for(every, 60)  # one lost: a timeout, not a hang
    return [g if isinstance(g, tuple) else type(g).__name__ for g in got]


@parents.task
async def cancel_some(secs: float, marks: str, cancel: list[int]) -> list[object]:
    """One ``hold`` runs, the next ones wait (some sent ahead to its worker); ``cancel`` are
    abandoned while they wait."""
    await hold(-1, 0.0, marks)
    tasks = [asyncio.ensure_future(hold(i, secs, marks)) for i in range(5)]
    await asyncio.sleep(secs / 2)
    for i in cancel:
        tasks[i].cancel()
    got = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    return [g if isinstance(g, tuple) else type(g).__name__ for g in got]


def _log(workdir: str, line: str) -> None:
    with open(os.path.join(workdir, "log.txt"), "a") as f:
        f.write(line + "\n")


@env.task
async def gated(i: int, workdir: str) -> int:
    """Logs ``exec <i>`` (must happen once), then waits for ``go-<i>``."""
    _log(workdir, f"exec {i}")
    open(os.path.join(workdir, f"started-{i}"), "w").close()
    while not os.path.exists(os.path.join(workdir, f"go-{i}")):
        await asyncio.sleep(0.01)
    _log(workdir, f"done {i}")
    return i


@parents.task
async def gated_fan(n: int, workdir: str) -> int:
    await gated(-1, workdir)  # ``go--1`` exists beforehand: a first result, for the average
    return sum(await asyncio.gather(*(gated(i, workdir) for i in range(n))))
