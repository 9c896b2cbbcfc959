# covers: TaskEnvironment (positional name), init, run, Run.outputs()[0]
# expect-source: anchor
# expect-exit: 0
# expect: {"greeting": "hello world"}
"""The smallest program: one environment named positionally, one task, one run."""

import json

import flyte

env = flyte.TaskEnvironment("hello")


@env.task
async def greet(name: str) -> str:
    return f"hello {name}"


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(greet, name="world")
    print("RESULT " + json.dumps({"greeting": run.outputs()[0]}))
