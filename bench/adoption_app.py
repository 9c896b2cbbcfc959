"""App of ``adoption_trials.py``: 20 process-isolated children of varied length, each logging its body."""

from __future__ import annotations

import asyncio
import os

import flyte

env = flyte.TaskEnvironment(name="adoption_app")


@env.task
async def child(i: int, workdir: str, secs: float) -> int:
    with open(os.path.join(workdir, "log.txt"), "a") as f:
        f.write(f"exec {i}\n")
    await asyncio.sleep(secs)
    with open(os.path.join(workdir, "log.txt"), "a") as f:
        f.write(f"done {i}\n")
    return i


@env.task
async def main(n: int, workdir: str) -> int:
    secs = [((i * 7919) % 13) / 10 for i in range(n)]  # 0 .. 1.2 s, fixed per child
    return sum(await asyncio.gather(*(child(i, workdir, secs[i]) for i in range(n))))
