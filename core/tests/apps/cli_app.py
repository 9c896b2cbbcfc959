"""Sample workflow for the CLI tests: a cache hit, a retried child and a caught failure."""

from __future__ import annotations

import asyncio

import flyte

env = flyte.TaskEnvironment(name="cli_app")


@env.task(cache="auto")
async def square(x: int) -> int:
    return x * x


@env.task(retries=1)
async def flaky(x: int) -> int:
    c = flyte.ctx()
    if c and c.attempt == 0:
        raise ConnectionError("first attempt fails")
    return x


@env.task
async def broken(x: int) -> int:
    raise ValueError(f"broken {x}")


@env.task
async def main(n: int, items: list[int], label: str = "sum") -> str:
    first = await square(n)
    again = await square(n)  # a cache hit
    rest = await asyncio.gather(*(square(i) for i in items))
    kept = await flaky(n)
    try:
        await broken(n)
    except ValueError:
        pass
    return f"{label}={first + again + sum(rest) + kept}"


@env.task
async def fails(x: int) -> int:
    return await broken(x)
