# covers: init_from_config() with no config file, init(log_level=...), run after re-init
# expect-source: anchor
# expect-exit: 0
# expect: {"out": [3, 7]}
"""The examples' usual start, `flyte.init_from_config()`, with no config anywhere: runs stay local."""

import json
import logging

import flyte

env = flyte.TaskEnvironment(name="default_config")


@env.task
async def add(a: int, b: int) -> int:
    return a + b


if __name__ == "__main__":
    flyte.init_from_config()
    first = flyte.run(add, 1, 2).outputs()[0]
    flyte.init(log_level=logging.WARNING)
    second = flyte.run(add, 3, 4).outputs()[0]
    print("RESULT " + json.dumps({"out": [first, second]}))
