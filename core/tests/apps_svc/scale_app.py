"""Apps for the scaling tests: one scales 1 -> 2 by concurrency, one scales from zero."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import flyte.app

burst = flyte.app.AppEnvironment(
    name="burst",
    scaling=flyte.app.Scaling(replicas=(1, 2), metric=flyte.app.Scaling.Concurrency(1), scaledown_after=1),
)
lazy = flyte.app.AppEnvironment(name="lazy", scaling=flyte.app.Scaling(replicas=(0, 1), scaledown_after=1))


def _app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("s", "0")))
        return JSONResponse({"pid": os.getpid()})

    return Starlette(routes=[Route("/", slow)])


burst.server(_app)
lazy.server(_app)
