"""Workflows whose runs the UI tests open: groups, cache hits, retries, failures, odd values.

Run as a script (``python ui_flows.py HOME``) it records the runs the end-to-end tests use and
prints their names as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import flyte
from flyte.io import File

env = flyte.TaskEnvironment(
    name="ui_flows", resources=flyte.Resources(cpu="500m"), env_vars={"UI_FLAG": "on"}
)
SCRIPT = "<script>alert('xss')</script><img src=x onerror=alert(2)>"


class Opaque:
    """No JSON schema: its values are recorded with cloudpickle."""

    def __init__(self, n: int) -> None:
        self.n = n


@env.task(cache="auto")
async def square(x: int) -> int:
    await asyncio.sleep(0.02 * (x % 3))
    return x * x


@env.task(retries=1)
async def flaky(x: int) -> int:
    raise ValueError(f"boom: input {x} is not acceptable")


@env.task
async def shout(text: str) -> dict[str, str]:
    print(f"shouting {text}")
    print("and a warning", file=sys.stderr)
    return {"said": text}


@env.task
async def opaque() -> Opaque:
    return Opaque(3)


@env.task
async def raw() -> bytes:
    return bytes(range(40))


@env.task
async def big() -> list[int]:
    return list(range(80_000))


@env.task
async def write_file(text: str) -> File:
    path = Path(tempfile.mkdtemp()) / "note.txt"
    path.write_text(text)
    return await File.from_local(path)


@env.task
async def pipeline(n: int = 4, text: str = SCRIPT) -> int:
    with flyte.group("squares"):
        values = await asyncio.gather(*(square(i) for i in range(n)))
    await shout(text)
    await opaque()
    await raw()
    await big()
    await write_file(text)
    try:
        await flaky(7)
    except ValueError:
        pass
    return sum(values)


@env.task
async def broken(x: int = 1) -> int:
    return await flaky(x)


@env.task
async def gated(gate: str) -> int:
    first = await square(5)
    while not os.path.exists(gate):
        await asyncio.sleep(0.05)
    return first + await square(6)


def record(home: str) -> dict[str, str]:
    """Record the runs the tests open; returns {label: run name}."""
    flyte.init(home=home)
    first = flyte.run(pipeline)
    second = flyte.run(pipeline)  # squares come from the cache
    try:
        flyte.run(broken)
        raise AssertionError("the broken run did not fail")
    except Exception as e:  # a failed run raises its root task's error, which carries the run
        failed = e.flyte_run  # type: ignore[attr-defined]
    return {"first": first.name, "cached": second.name, "failed": failed.name}


if __name__ == "__main__":
    if sys.argv[1] == "gated":
        flyte.init(home=sys.argv[2])
        run = flyte.with_runcontext(name=sys.argv[4]).run(gated, gate=sys.argv[3])
        print(run.name, run.status)
    else:
        print(json.dumps(record(sys.argv[1])))
