"""Kill-trial sample: a sequential chain whose parent notes each result it has seen (``ack i``).

Each ``step`` appends ``child i`` to ``<workdir>/marker.txt`` when it runs; the parent appends
``ack i`` once the step's result reached it. The chain stops at the number written in
``<workdir>/limit`` (when present), so a recovered run ends soon after the point of the crash.
"""

from __future__ import annotations

import os

import flyte

env = flyte.TaskEnvironment(name="chain_app")


def append(workdir: str, line: str) -> None:
    with open(os.path.join(workdir, "marker.txt"), "a") as f:
        f.write(line + "\n")


def limit(workdir: str) -> int | None:
    try:
        with open(os.path.join(workdir, "limit")) as f:
            return int(f.read())
    except FileNotFoundError:
        return None


@env.task
async def step(i: int, workdir: str) -> int:
    append(workdir, f"child {i}")
    return i + 1


@env.task
async def main(n: int, workdir: str) -> int:
    x = 0
    for i in range(n):
        stop = limit(workdir)
        if stop is not None and i >= stop:
            break
        x = await step(i, workdir)
        append(workdir, f"ack {i}")
    return x
