# covers: TaskEnvironment(depends_on=...), tasks across environments
# expect-source: anchor
# expect-exit: 0
# expect: {"depends": ["worker"]}
# expect: {"out": ["cba", "zyx"]}
"""A driver environment depends on a worker environment and calls its tasks."""

import json

import flyte

worker = flyte.TaskEnvironment(name="worker")
driver = flyte.TaskEnvironment(name="driver", depends_on=[worker])


@worker.task
async def process(item: str) -> str:
    return item[::-1]


@driver.task
async def drive(items: list[str]) -> list[str]:
    return [await process(i) for i in items]


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"depends": [e.name for e in driver.depends_on]}))
    print("RESULT " + json.dumps({"out": flyte.run(drive, items=["abc", "xyz"]).outputs()[0]}))
