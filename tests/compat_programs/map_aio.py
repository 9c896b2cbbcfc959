# covers: map.aio (async iteration in an async parent), map group_name, map over several iterables
# expect-source: anchor
# expect-exit: 0
# expect: {"out": ["a0", "b1", "c2"]}
"""flyte.map.aio inside an async parent, zipping two input lists."""

import json

import flyte

env = flyte.TaskEnvironment(name="map_aio")


@env.task
async def pair(a: int, b: str) -> str:
    return f"{b}{a}"


@env.task
async def parent(n: int) -> list[str]:
    out = []
    async for r in flyte.map.aio(pair, range(n), ["a", "b", "c", "d"][:n], group_name="pairs"):
        out.append(r)
    return out


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"out": flyte.run(parent, n=3).outputs()[0]}))
