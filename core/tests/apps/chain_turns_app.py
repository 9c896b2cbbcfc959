"""Tasks for ``test_process_chain_turns.py``: a sequential chain of steps in a worker process, and
a fan-out of them. Imported by the test process and, by name, by the worker processes it starts."""

from __future__ import annotations

import asyncio

import flyte

parents = flyte.TaskEnvironment(name="ct_parent")
steps = flyte.TaskEnvironment(name="ct_step", resources=flyte.Resources(cpu="250m", memory="1Gi"))


@steps.task
async def inc(x: int) -> int:
    return x + 1


@parents.task
async def chain(n: int) -> int:
    x = await inc(0)  # starts the worker
    for _ in range(n):
        x = await inc(x)
    return x


@parents.task
async def fanout(n: int) -> list[int]:
    return list(await asyncio.gather(*(inc(i) for i in range(n))))


@steps.task
async def shout(s: str) -> str:
    return s.upper() + "!"


@steps.task
async def boom(x: int) -> int:
    raise ValueError(f"bad {x}")


@steps.task
async def nap(x: int) -> int:
    await asyncio.sleep(5)
    return x


@parents.task
async def middle(n: int) -> int:
    """A child that is not the root's: its children are tracked by their parent."""
    x = 0
    for _ in range(n):
        x = await inc(x)
    return x + sum(await asyncio.gather(inc(0), inc(0)))  # repeated calls: seq 0, 1


@parents.task
async def program(n: int) -> str:
    x = 0
    for _ in range(n):
        x = await inc(x)
    fanned = sum(await asyncio.gather(*(inc(i) for i in range(n))))
    x += await middle(3)
    words = [await shout("a"), await shout('q"\\'), await shout("é")]
    errors = []
    try:
        await boom(7)
    except Exception as e:
        errors.append(type(e).__name__)
    try:
        await asyncio.wait_for(nap(1), 0.5)
    except TimeoutError:
        errors.append("timeout")
    return f"{x} {fanned} {words} {errors}"
