"""Tasks that call the echo app by name (its URL comes from the running `flyte serve`)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import flyte
from echo_app import echo

env = flyte.TaskEnvironment(name="caller")


@env.task
def call_echo(x: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{echo.endpoint}/?x={x}", timeout=10) as r:
        out: dict[str, Any] = json.loads(r.read())
    return out


@env.task
async def fan_out(n: int) -> list[str]:
    """A workflow: several calls to the app, each its own action."""
    import asyncio

    results = await asyncio.gather(*(call_echo.aio(x=str(i)) for i in range(n)))
    return [f"{r['greeting']} {r['x']}" for r in results]
