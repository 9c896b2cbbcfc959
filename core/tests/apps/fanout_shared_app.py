"""Concurrent-drivers sample (issue 25): a fan-out of ``n`` leaves beside one serialized cached task
whose key every run shares. The shared body notes each execution in ``$SIDE_LOG``."""

from __future__ import annotations

import asyncio
import os
import time

import flyte

env = flyte.TaskEnvironment(name="fanout_shared")


@env.task(cache=flyte.Cache(behavior="auto", serialize=True))
async def shared(x: int) -> int:
    with open(os.environ["SIDE_LOG"], "a") as f:
        f.write(f"shared {os.getpid()} {time.time():.6f}\n")
    await asyncio.sleep(1.0)  # long enough for every other driver to meet the lease
    return x * 2


@env.task
async def leaf(i: int) -> int:
    return i + 1


@env.task
async def main(n: int) -> int:
    first, *rest = await asyncio.gather(shared(21), *(leaf(i) for i in range(n)))
    return first + sum(rest)
