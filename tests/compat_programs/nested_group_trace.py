# covers: group around asyncio.gather, nested groups, trace inside a parent, three levels of async tasks
# expect-source: anchor
# expect-exit: 0
# expect: {"out": [6, 52]}
"""Groups, traces and map combined in a small two-level pipeline."""

import asyncio
import json

import flyte

env = flyte.TaskEnvironment(name="pipeline")


@flyte.trace
async def normalize(word: str) -> str:
    return word.strip().lower()


@env.task
async def score(word: str) -> int:
    return sum(ord(c) - 96 for c in word)


@env.task
async def stage(words: list[str]) -> list[int]:
    clean = [await normalize(w) for w in words]
    with flyte.group("scores"):
        return await asyncio.gather(*(score(w) for w in clean))


@env.task
async def pipeline(batches: list[list[str]]) -> list[int]:
    with flyte.group("stages"):
        results = await asyncio.gather(*(stage(b) for b in batches))
    return [sum(r) for r in results]


if __name__ == "__main__":
    flyte.init()
    out = flyte.run(pipeline, batches=[[" Ab ", "c"], ["Zz"]]).outputs()[0]
    print("RESULT " + json.dumps({"out": out}))
