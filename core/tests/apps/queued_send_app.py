"""Children queued for a CPU share in process mode (used by ``core/tests/test_workers_queued.py``):
a freed share sends the next queued child from a callback, without waking its coroutine first."""

from __future__ import annotations

import asyncio
import os

import flyte

env = flyte.TaskEnvironment("queued_send", resources=flyte.Resources(cpu=1), isolation="process")
parents = flyte.TaskEnvironment("queued_send_parent", isolation="inline")  # its cancels reach the driver


@env.task
async def pid(i: int) -> tuple[int, int]:
    return i, os.getpid()


@env.task
async def slow(i: int) -> int:
    await asyncio.sleep(0.3)
    return i


@env.task
async def fan_pids(n: int) -> list[tuple[int, int]]:
    return list(await asyncio.gather(*(pid(i) for i in range(n))))


@parents.task
async def abandon_then_run(n: int) -> list[int]:
    """Gives up on ``n`` children queued behind a running one, then needs the CPU budget again: the
    abandoned children must have left the queue (one granted a share after it gave up would keep it)."""
    first = asyncio.ensure_future(slow(0))
    try:
        await asyncio.wait_for(asyncio.gather(*(slow(i) for i in range(1, n + 1))), 0.1)
    except TimeoutError:
        pass
    await first
    later = asyncio.gather(*(pid(100 + i) for i in range(3)))
    return [i for i, _ in await asyncio.wait_for(later, 60)]  # a leaked share: a timeout, not a hang
