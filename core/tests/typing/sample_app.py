"""A user's module, type-checked by mypy in test_typing.py (never run)."""

import asyncio

import flyte

env = flyte.TaskEnvironment(name="typed")


@env.task
async def square(x: int) -> int:
    return x * x


@env.task
def double(x: int) -> int:
    return 2 * x


@env.task
async def main(n: int) -> list[int]:
    one = await square(3)
    reveal_type(one)  # noqa: F821
    many = await asyncio.gather(*(square(i) for i in range(n)))
    reveal_type(many)  # noqa: F821
    d = double(4)
    reveal_type(d)  # noqa: F821
    bad = await square("x")  # mypy must flag this
    return [*many, one, d, bad]
