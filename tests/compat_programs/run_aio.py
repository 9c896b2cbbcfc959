# covers: run.aio, init, awaiting a run from asyncio code, Run.outputs()
# expect-source: anchor
# expect-exit: 0
# expect: {"out": "a-b-c"}
# expect: {"out": "x+y"}
"""Starting a run from async code with flyte.run.aio."""

import asyncio
import json

import flyte

env = flyte.TaskEnvironment(name="run_aio")


@env.task
async def join(parts: list[str], sep: str = "-") -> str:
    return sep.join(parts)


async def main() -> None:
    run = await flyte.run.aio(join, parts=["a", "b", "c"])
    print("RESULT " + json.dumps({"out": run.outputs()[0]}))
    run2 = await flyte.run.aio(join, ["x", "y"], sep="+")
    print("RESULT " + json.dumps({"out": run2.outputs()[0]}))


if __name__ == "__main__":
    flyte.init()
    asyncio.run(main())
