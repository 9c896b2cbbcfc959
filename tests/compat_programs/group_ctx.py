# covers: group (context manager), ctx() inside a group
# expect-source: anchor
# expect-exit: 0
# expect: {"values": [3, 7, 10]}
"""flyte.group names a set of child actions; results are unchanged."""

import json

import flyte

env = flyte.TaskEnvironment(name="grouping")


@env.task
async def add(a: int, b: int) -> int:
    return a + b


@env.task
async def main() -> list[int]:
    out = []
    with flyte.group("first-pass"):
        out.append(await add(1, 2))
        out.append(await add(3, 4))
    with flyte.group("second-pass"):
        out.append(await add(out[0], out[1]))
    return out


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"values": flyte.run(main).outputs()[0]}))
