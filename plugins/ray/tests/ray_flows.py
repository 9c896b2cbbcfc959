"""Workflows the Ray tests run: importable by module name on every Ray node (same machine, same
sys.path), as a user's workflow module would be through their cluster's runtime environment."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import flyte

env = flyte.TaskEnvironment(name="ray_flows")
gpu_env = flyte.TaskEnvironment(name="ray_gpu", resources=flyte.Resources(cpu=1, gpu="H100:1"))
big_env = flyte.TaskEnvironment(name="ray_big", resources=flyte.Resources(cpu=2, memory="4Gi"))
reuse_env = flyte.TaskEnvironment(
    name="ray_reuse",
    resources=flyte.Resources(cpu=0.5),
    reusable=flyte.ReusePolicy(replicas=2, concurrency=2),
)
huge_env = flyte.TaskEnvironment(name="ray_huge", resources=flyte.Resources(cpu=1, gpu="A100:8"))


def where(tag: str = "") -> dict[str, Any]:
    """Which Ray node and process this runs in (and what Ray gave it)."""
    import ray

    ctx = ray.get_runtime_context()
    return {
        "tag": tag,
        "node": ray.util.get_node_ip_address(),
        "pid": os.getpid(),
        "gpus": ctx.get_accelerator_ids().get("GPU", []),
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


@env.task
async def square(x: int) -> int:
    return x * x


@env.task
async def fanout(n: int) -> int:
    return sum(await asyncio.gather(*(square(i) for i in range(n))))


@env.task
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@env.task
async def wide_behind_slow(n: int, seconds: float) -> tuple[int, float, float]:
    """A long child started first, then ``n`` quick ones: the sum of the quick ones, how long they
    took to come back, and how long the whole took."""
    t0 = time.monotonic()
    slow = asyncio.ensure_future(nap(seconds))
    await asyncio.sleep(0)  # the long child's action is started first
    total = sum(await asyncio.gather(*(square(i) for i in range(n))))
    quick = time.monotonic() - t0
    await slow
    return total, quick, time.monotonic() - t0


@env.task
async def nested_fanout(n: int) -> int:
    """The fan-out one level down: its parent body runs on a Ray worker and asks the driver for
    each child through the run's channel (the root itself stays on the driver)."""
    return await fanout(n)


@env.task
async def node_of(tag: str) -> dict[str, Any]:
    return where(tag)


@gpu_env.task
async def on_gpu() -> dict[str, Any]:
    return where("gpu")


@big_env.task
async def on_big() -> dict[str, Any]:
    return where("big")


@env.task
async def placement() -> dict[str, Any]:
    plain, gpu, big = await asyncio.gather(node_of("plain"), on_gpu(), on_big())
    return {"plain": plain, "gpu": gpu, "big": big, "driver_pid": os.getpid()}


@env.task
async def inner(n: int) -> dict[str, Any]:
    """A child that is itself a parent: it runs on a node, its children too."""
    total = sum(await asyncio.gather(*(square(i) for i in range(n))))
    return {"total": total, **where("inner")}


@env.task
async def nested(n: int) -> list[dict[str, Any]]:
    return list(await asyncio.gather(inner(n), inner(n + 1)))


class Boom(ValueError):
    """A user exception with a custom constructor: it must reach the parent as itself."""

    def __init__(self, x: int) -> None:
        super().__init__(f"bad input {x}")
        self.x = x


@env.task
async def fails(x: int) -> int:
    raise Boom(x)


@env.task
async def catches(x: int) -> str:
    try:
        await fails(x)
    except Boom as e:
        return f"caught {type(e).__name__} x={e.x}: {e}"
    return "not raised"


@flyte.trace
async def double(x: int) -> int:
    return 2 * x


@env.task
async def traced(x: int) -> int:
    return await double(x) + 1


@env.task
async def call_traced(x: int) -> int:
    return await traced(x)


@reuse_env.task
async def replica_pid(i: int) -> dict[str, Any]:
    await asyncio.sleep(0.3)
    return where(f"r{i}")


@env.task
async def reuse_fan(n: int) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(replica_pid(i) for i in range(n))))


@env.task
async def slow_step(i: int, marker_dir: str, seconds: float) -> dict[str, Any]:
    """Leaves a marker naming its node, then sleeps long enough for the test to kill that node."""
    info = where(f"s{i}")
    Path(marker_dir, f"{i}-{info['node']}-{info['pid']}").write_text("started")
    if not any(Path(marker_dir).glob(f"{i}-done-*")):
        time.sleep(seconds)
    return info


@env.task
async def survive(n: int, marker_dir: str, seconds: float) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(slow_step(i, marker_dir, seconds) for i in range(n))))


@env.task(timeout=2)
async def too_slow() -> int:
    time.sleep(30)
    return 1


@huge_env.task
async def needs_eight_a100() -> int:
    return 8


@env.task
async def big_value(n: int) -> list[int]:
    return list(range(n))


@env.task
async def sum_big(n: int) -> int:
    return sum(await big_value(n))


@env.task
async def total(xs: list[int]) -> int:
    return sum(xs)


@env.task
async def big_roundtrip(n: int) -> int:
    """A large output (big_value) and a large input (total): both through the run's store."""
    return await total(await big_value(n))


@env.task
async def talks(x: int) -> int:
    print(f"hello from a Ray node, x={x}")
    return x


@env.task
async def chatty(n: int) -> int:
    return sum(await asyncio.gather(*(talks(i) for i in range(n))))


@env.task
async def shared_loads_here(i: int) -> tuple[int, int]:
    """This worker process and how often it read any one run's shared task settings from the GCS."""
    from flyteplugins.ray._remote import shared_loads

    return os.getpid(), max(shared_loads.values(), default=0)


@env.task
async def fan_shared_loads(n: int) -> list[tuple[int, int]]:
    return list(await asyncio.gather(*(shared_loads_here(i) for i in range(n))))
