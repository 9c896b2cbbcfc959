"""Durable-sleep sample: ``main`` records the time, then sleeps ``secs`` with ``flyte.durable.sleep``."""

from __future__ import annotations

import os

import flyte

env = flyte.TaskEnvironment(name="sleep_app")


@env.task
async def main(secs: float, workdir: str) -> str:
    started = await flyte.durable.now()
    with open(os.path.join(workdir, "starts.txt"), "a") as f:
        f.write(started.isoformat() + "\n")
    await flyte.durable.sleep(secs)
    return started.isoformat()
