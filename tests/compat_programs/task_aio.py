# covers: task.aio (sync task awaited from async parent), asyncio.gather over .aio
# expect-source: anchor
# expect-exit: 0
# expect: {"out": [3, 0, 2, 4]}
"""A sync task is awaited from an async parent through `.aio`."""

import asyncio
import json

import flyte

env = flyte.TaskEnvironment(name="aio")


@env.task
def slow_add(a: int, b: int) -> int:
    return a + b


@env.task
async def parent() -> list[int]:
    first = await slow_add.aio(1, 2)
    rest = await asyncio.gather(*(slow_add.aio(i, i) for i in range(3)))
    return [first, *rest]


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"out": flyte.run(parent).outputs()[0]}))
