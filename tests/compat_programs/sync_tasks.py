# covers: sync task functions, sync parent calling sync children
# expect-source: anchor
# expect-exit: 0
# expect: {"sum": 30}
"""Plain (non-async) tasks calling each other like functions."""

import json

import flyte

env = flyte.TaskEnvironment(name="sync_tasks")


@env.task
def square(x: int) -> int:
    return x * x


@env.task
def sum_of_squares(n: int) -> int:
    return sum(square(i) for i in range(n))


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(sum_of_squares, n=5)
    print("RESULT " + json.dumps({"sum": run.outputs()[0]}))
