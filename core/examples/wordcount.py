"""Demo: a durable word-count workflow, run locally with no server and no config.

flyte run core/examples/wordcount.py main --n-docs 8
flyte runs show <run name>          # the action tree
flyte rerun <run name> --recover    # resume after a crash (finished work is not redone)
"""

import asyncio
import collections
import random
import tempfile
from pathlib import Path

import flyte
from flyte.io import File

env = flyte.TaskEnvironment(name="wordcount", resources=flyte.Resources(cpu=1, memory="512Mi"))

WORDS = "flyte task action run journal cache retry durable local plugin spark query pod".split()


@flyte.trace
async def pick_seed(doc_id: int) -> int:
    """Recorded: a recovered run sees the same seed."""
    return random.Random(doc_id).randint(0, 10_000)


@env.task(cache="auto")
async def make_document(doc_id: int, words: int) -> File:
    seed = await pick_seed(doc_id)
    rng = random.Random(seed)
    path = Path(tempfile.mkdtemp()) / f"doc-{doc_id}.txt"
    path.write_text(" ".join(rng.choice(WORDS) for _ in range(words)))
    return await File.from_local(path)


@env.task(retries=2, timeout=60)
async def count_words(doc: File) -> dict[str, int]:
    async with doc.open("rb") as f:
        text = (await f.read()).decode()
    return dict(collections.Counter(text.split()))


@env.task
def merge(counts: list[dict[str, int]]) -> dict[str, int]:
    total: collections.Counter[str] = collections.Counter()
    for c in counts:
        total.update(c)
    return dict(total.most_common(5))


@env.task
async def main(n_docs: int = 8, words: int = 1000) -> dict[str, int]:
    with flyte.group("make"):
        docs = await asyncio.gather(*(make_document(i, words) for i in range(n_docs)))
    with flyte.group("count"):
        counts = await asyncio.gather(*(count_words(d) for d in docs))
    return await merge.aio(list(counts))


if __name__ == "__main__":
    flyte.init_from_config()
    run = flyte.run(main, n_docs=8)
    print(run.name, run.outputs()[0])
