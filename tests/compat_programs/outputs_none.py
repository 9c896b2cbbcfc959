# covers: task without outputs, Run.outputs() of a None task
# expect-source: anchor
# expect-exit: 0
# expect: {"len": 1, "seen": [5]}
"""A task that returns nothing still runs; its outputs are empty."""

import json

import flyte

env = flyte.TaskEnvironment(name="no_outputs")
seen: list[int] = []


@env.task
async def record(x: int) -> None:
    seen.append(x)


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(record, x=5)
    out = run.outputs()
    print("RESULT " + json.dumps({"len": len(out), "seen": seen}))
