# covers: extras.DynamicBatcher, extras.BatchStats, extras.CostEstimator (inside a task)
# expect-source: anchor
# expect-exit: 0
# expect: {"is_estimator": true, "results": ["A", "BB", "CCC", "DDDD", "E", "FF"], "stats_type": true, "submitted": 6}
"""Records submitted one by one to a DynamicBatcher are processed in batches, results in order."""

import asyncio
import json
from dataclasses import dataclass

import flyte
from flyte.extras import BatchStats, CostEstimator, DynamicBatcher

env = flyte.TaskEnvironment(name="batching")


@dataclass
class Item:
    text: str

    def estimate_cost(self) -> int:
        return len(self.text)


async def upper_batch(batch: list[Item]) -> list[str]:
    return [i.text.upper() for i in batch]


@env.task
async def run_batches(words: list[str]) -> dict[str, object]:
    async with DynamicBatcher(upper_batch, max_batch_size=4, batch_timeout_s=0.01) as batcher:
        futures = [await batcher.submit(Item(w)) for w in words]
        results = list(await asyncio.gather(*futures))
        stats = batcher.stats
    return {
        "results": results,
        "submitted": stats.total_submitted,
        "stats_type": isinstance(stats, BatchStats),
        "is_estimator": isinstance(Item("x"), CostEstimator),
    }


if __name__ == "__main__":
    flyte.init()
    words = ["a", "bb", "ccc", "dddd", "e", "ff"]
    print("RESULT " + json.dumps(flyte.run(run_batches, words=words).outputs()[0], sort_keys=True))
