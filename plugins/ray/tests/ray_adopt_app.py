"""Adoption on the Ray executor (issue 23): ``main`` fans out to one-shot Ray tasks.

Each child logs ``exec <i>`` when its body starts (the side effect that must happen once), touches
``started-<i>``, waits for ``go-<i>`` and logs ``done <i>``.
"""

from __future__ import annotations

import asyncio
import os

import flyte

env = flyte.TaskEnvironment(name="ray_adopt", resources=flyte.Resources(cpu=0.5))


def append(workdir: str, line: str) -> None:
    with open(os.path.join(workdir, "log.txt"), "a") as f:
        f.write(line + "\n")


@env.task
async def child(i: int, workdir: str) -> int:
    append(workdir, f"exec {i}")
    open(os.path.join(workdir, f"started-{i}"), "w").close()
    while not os.path.exists(os.path.join(workdir, f"go-{i}")):
        await asyncio.sleep(0.05)
    append(workdir, f"done {i}")
    return i * i


@env.task
async def main(n: int, workdir: str) -> int:
    results = await asyncio.gather(*(child(i, workdir) for i in range(n)))
    return sum(results)
