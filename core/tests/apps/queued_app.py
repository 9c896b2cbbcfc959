"""A fan-out wider than the machine's places: children wait QUEUED for a CPU slot or a concurrency
slot (used by ``core/tests/test_live_queued.py``)."""

from __future__ import annotations

import asyncio
import time

import flyte

env = flyte.TaskEnvironment("queued")


@env.task
def nap(i: int) -> int:
    time.sleep(0.25)
    return i


@env.task
async def fan(n: int = 10) -> int:
    return sum(await asyncio.gather(*(nap.aio(i) for i in range(n))))


@env.task
async def anap(i: int) -> int:
    await asyncio.sleep(0.1)
    return i


@env.task
async def afan(n: int = 10) -> int:
    return sum(await asyncio.gather(*(anap(i) for i in range(n))))
