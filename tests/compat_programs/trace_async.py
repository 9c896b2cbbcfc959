# covers: trace (async functions inside a task)
# expect-source: anchor
# expect-exit: 0
# expect: {"out": "AB|CD"}
"""flyte.trace wraps helper coroutines called inside a task; results pass through."""

import json

import flyte

env = flyte.TaskEnvironment(name="tracing")


@flyte.trace
async def fetch(key: str) -> str:
    return key.upper()


@flyte.trace
async def combine(a: str, b: str) -> str:
    return f"{a}|{b}"


@env.task
async def main(keys: list[str]) -> str:
    parts = [await fetch(k) for k in keys]
    return await combine(parts[0], parts[1])


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"out": flyte.run(main, keys=["ab", "cd"]).outputs()[0]}))
