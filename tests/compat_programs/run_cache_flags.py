# covers: TaskEnvironment(cache="auto"), with_runcontext(disable_run_cache=True)
# expect-source: anchor
# expect-exit: 0
# expect: {"leaf_calls_after_each_run": [1, 1, 2], "out": [2, 2, 2]}
"""An environment-wide cache, and the run-level switch that bypasses it.

(overwrite_cache=True is not checked: the anchor's local mode ignores it.)
"""

import json
import os
import tempfile

import flyte

env = flyte.TaskEnvironment(name="run_cache", cache="auto")
LOG = os.path.join(tempfile.gettempdir(), "calls.txt")


@env.task
async def leaf(x: int) -> int:
    with open(LOG, "a") as f:
        f.write(f"{x}\n")
    return x * 2


@env.task
async def root(x: int) -> int:
    return await leaf(x)


def calls() -> int:
    with open(LOG) as f:
        return len(f.read().split())


if __name__ == "__main__":
    flyte.init()
    seen = []
    out = [flyte.run(root, x=1).outputs()[0]]
    seen.append(calls())
    out.append(flyte.run(root, x=1).outputs()[0])
    seen.append(calls())
    out.append(flyte.with_runcontext(disable_run_cache=True).run(root, x=1).outputs()[0])
    seen.append(calls())
    print("RESULT " + json.dumps({"out": out, "leaf_calls_after_each_run": seen}))
