# covers: async parent, asyncio.gather fan-out of child tasks
# expect-source: anchor
# expect-exit: 0
# expect: {"values": [100, 101, 102, 103, 104, 105, 106, 107]}
"""An async parent fanning out children with asyncio.gather."""

import asyncio
import json

import flyte

env = flyte.TaskEnvironment(name="fanout")


@env.task
async def child(i: int) -> int:
    await asyncio.sleep(0)
    return i + 100


@env.task
async def parent(n: int) -> list[int]:
    return list(await asyncio.gather(*(child(i) for i in range(n))))


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"values": flyte.run(parent, n=8).outputs()[0]}))
