# covers: map (sync and in async parent), map concurrency
# expect-source: anchor
# expect-exit: 0
# expect: {"limited": [11, 21, 31, 41], "mapped": [2, 3, 4]}
"""flyte.map over a list, from a sync parent and with a concurrency limit."""

import json

import flyte

env = flyte.TaskEnvironment(name="mapping")


@env.task
def inc(x: int) -> int:
    return x + 1


@env.task
def mapped(xs: list[int]) -> list[int]:
    return list(flyte.map(inc, xs))


@env.task
def mapped_limited(xs: list[int]) -> list[int]:
    return list(flyte.map(inc, xs, concurrency=2))


if __name__ == "__main__":
    flyte.init()
    a = flyte.run(mapped, xs=[1, 2, 3]).outputs()[0]
    b = flyte.run(mapped_limited, xs=[10, 20, 30, 40]).outputs()[0]
    print("RESULT " + json.dumps({"mapped": a, "limited": b}))
