# covers: task.override (resources, retries, timeout, cache, short_name), overriding inside a parent
# expect-source: anchor
# expect-exit: 0
# expect: {"out": [4, 9, 16]}
"""task.override changes per-call settings; the task body and result stay the same."""

import json

import flyte

env = flyte.TaskEnvironment(name="override")


@env.task
async def compute(x: int) -> int:
    return x * x


@env.task
async def parent(x: int) -> list[int]:
    bigger = compute.override(resources=flyte.Resources(cpu=2, memory="1Gi"), retries=2)
    faster = compute.override(timeout=30, cache="disable", short_name="compute-fast")
    return [await compute(x), await bigger(x + 1), await faster(x + 2)]


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"out": flyte.run(parent, x=2).outputs()[0]}))
