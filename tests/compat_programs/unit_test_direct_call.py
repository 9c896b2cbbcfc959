# covers: calling a task as a plain function outside a run (unit testing), async task called with asyncio.run
# expect-source: anchor
# expect-exit: 0
# expect: {"async": 20, "sync": 5}
"""Tasks are callable outside any run, so they can be unit-tested like functions."""

import asyncio
import json

import flyte

env = flyte.TaskEnvironment(name="unit")


@env.task
def add(a: int, b: int) -> int:
    return a + b


@env.task
async def mul(a: int, b: int) -> int:
    return a * b


if __name__ == "__main__":
    print("RESULT " + json.dumps({"sync": add(2, 3), "async": asyncio.run(mul(4, 5))}))
