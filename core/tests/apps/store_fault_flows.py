"""Flows for the store fault-injection tests (``core/tests/test_store_faults.py``).

Every task body appends a line to ``<workdir>/side.log`` when it runs, so a test can prove what ran
again after a recovery. Step outputs are above the journal's inline limit, so each one is written to
the run's object store when the step ends.
"""

from __future__ import annotations

import asyncio
import os

import flyte
from flyte.io import File

env = flyte.TaskEnvironment("storefaults")

BIG = 300_000
"""Characters per step output: above the journal's 256 KiB inline limit, so it goes to the store."""


def note(workdir: str, what: str) -> None:
    with open(os.path.join(workdir, "side.log"), "a") as f:
        f.write(what + "\n")


@env.task(retries=3)
async def step(i: int, workdir: str, gate: str, size: int) -> str:
    note(workdir, f"step-{i}")
    if gate and i == 2:  # the test injects its fault while this step waits
        open(os.path.join(workdir, "at-gate"), "w").close()
        for _ in range(6000):
            if os.path.exists(gate):
                break
            await asyncio.sleep(0.01)
    return str(i % 10) * size


@env.task(retries=2)  # a parent's retries must not be spent on a child's storage failure either
async def pipeline(n: int, workdir: str, gate: str = "", size: int = BIG) -> int:
    total = 0
    for i in range(n):
        total += len(await step(i, workdir, gate, size))
    return total


@env.task(retries=3)
async def upload(text: str, workdir: str) -> File:
    """Writes a File into the run's store from inside the body."""
    note(workdir, "upload")
    src = os.path.join(workdir, "src.txt")
    with open(src, "w") as f:
        f.write(text)
    return await File.from_local(src)


@env.task
async def uploads(text: str, workdir: str) -> str:
    f = await upload(text, workdir)
    async with f.open("rb") as fh:
        data = await fh.read()
    return bytes(data).decode()
