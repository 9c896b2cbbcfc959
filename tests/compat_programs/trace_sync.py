# covers: trace (sync functions), trace used outside a task
# expect-source: anchor
# expect-exit: 0
# expect: {"outside": 10}
# expect: {"out": 14}
"""flyte.trace on plain functions, inside a sync task and called directly outside any run."""

import json

import flyte

env = flyte.TaskEnvironment(name="trace_sync")


@flyte.trace
def scale(x: int, factor: int) -> int:
    return x * factor


@env.task
def main(x: int) -> int:
    return scale(x, 3) + scale(x, 4)


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"outside": scale(2, 5)}))
    print("RESULT " + json.dumps({"out": flyte.run(main, x=2).outputs()[0]}))
