# covers: Timeout, timedelta timeouts, timeout=int, task runs within its timeout
# expect-source: anchor
# expect-exit: 0
# expect: {"max_runtime_s": 30.0}
# expect: {"out": 5}
"""Timeouts declared as seconds, timedelta and flyte.Timeout; quick tasks finish normally."""

import json
from datetime import timedelta

import flyte

env = flyte.TaskEnvironment(name="timeouts")
limit = flyte.Timeout(max_runtime=timedelta(seconds=30), max_queued_time=timedelta(minutes=5))


@env.task(timeout=limit)
async def quick(x: int) -> int:
    return x + 1


@env.task(timeout=20)
async def seconds(x: int) -> int:
    return x + 2


@env.task(timeout=timedelta(seconds=20))
async def delta(x: int) -> int:
    return await quick(x) + await seconds(x)


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"max_runtime_s": limit.max_runtime.total_seconds()}))
    print("RESULT " + json.dumps({"out": flyte.run(delta, x=1).outputs()[0]}))
