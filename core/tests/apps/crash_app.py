"""Crash-recovery sample: ``main`` fans out to children that append to ``<workdir>/marker.txt``.

Children from ``n // 2`` on wait for the flag file ``<workdir>/go`` before finishing, so a test can kill
the process while half the children are done and the rest are blocked.
"""

from __future__ import annotations

import asyncio
import os

import flyte

env = flyte.TaskEnvironment(name="crash_app")


def append(workdir: str, line: str) -> None:
    with open(os.path.join(workdir, "marker.txt"), "a") as f:
        f.write(line + "\n")


@flyte.trace
async def traced_offset(workdir: str) -> int:
    append(workdir, "trace")
    return 1000


@env.task
async def child(i: int, workdir: str, slow_from: int) -> int:
    if i >= slow_from:
        while not os.path.exists(os.path.join(workdir, "go")):
            await asyncio.sleep(0.02)
    append(workdir, f"child {i}")
    return i * i


@env.task
async def other(workdir: str) -> int:
    return 0


@env.task
async def main(n: int, workdir: str) -> dict[str, str]:
    if os.path.exists(os.path.join(workdir, "diverge")):  # a different first call than before
        await other(workdir)
    started = await flyte.durable.now()
    append(workdir, f"main {started.isoformat()}")
    offset = await traced_offset(workdir)
    results = await asyncio.gather(*(child(i, workdir, n // 2) for i in range(n)))
    return {"total": str(sum(results) + offset), "started": started.isoformat()}
