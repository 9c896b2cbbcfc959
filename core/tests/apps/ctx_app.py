"""Tasks for ``test_workers_process_ctx.py``: the same ``flyte.ctx()`` probe inline and in a worker
process. Imported by the test process and, by name, by the worker processes it starts."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import flyte

inline_env = flyte.TaskEnvironment(name="ctx_inline", isolation="inline")
process_env = flyte.TaskEnvironment(name="ctx_process", isolation="process")


def _run_fields() -> dict[str, Any]:
    c = flyte.ctx()
    assert c is not None
    return {
        "run_name": c.run_name,
        "action_run_name": c.action.run_name,
        "project": c.action.project,
        "domain": c.action.domain,
        "org": c.action.org,
        "start": c.run_start_time,
        "disable_run_cache": c.disable_run_cache,
        "run_base_dir": c.run_base_dir,
        "custom": dict(c.custom_context),
        "action_name": c.action_name,
        "action_id": c.action_id,
    }


@inline_env.task
async def probe_inline() -> dict[str, Any]:
    return _run_fields()


@process_env.task
async def probe_process() -> dict[str, Any]:
    return _run_fields()


@inline_env.task
async def both() -> list[dict[str, Any]]:
    return [await probe_inline(), await probe_process()]


replica_env = flyte.TaskEnvironment(name="ctx_replica", reusable=flyte.ReusePolicy(replicas=1, concurrency=8))


@flyte.trace
async def traced_add(x: int, y: int) -> int:
    return x + y


@replica_env.task
async def traced_steps(x: int) -> list[int]:
    """Each trace step asks the controller for its ID with a blocking request from the worker's loop
    thread, while the other actions of this replica arrive and run on the same loop."""
    out = [os.getpid()]
    for i in range(5):
        out.append(await traced_add(x, i))
        await asyncio.sleep(0)
    return out


@inline_env.task
async def many_traced(n: int) -> list[list[int]]:
    return list(await asyncio.gather(*(traced_steps(i) for i in range(n))))
