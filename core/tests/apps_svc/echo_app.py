"""A Starlette app for the serve tests: reports its replica, can turn sick, slow or crash on demand."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import flyte
import flyte.app

echo = flyte.app.AppEnvironment(
    name="echo",
    port=8080,
    env_vars={"GREETING": "hello"},
    resources=flyte.Resources(cpu=1, memory="256Mi"),
    scaling=flyte.app.Scaling(replicas=(2, 3), metric=flyte.app.Scaling.Concurrency(4), scaledown_after=1),
    requires_auth=False,
)

STATE: dict[str, Any] = {"started": False, "sick": False}


def _marker(kind: str) -> None:
    where = os.environ.get("ECHO_MARKERS")
    if where:
        with open(os.path.join(where, f"{kind}-{os.getpid()}"), "w") as f:
            f.write(kind)


@echo.on_startup
async def startup() -> None:
    STATE["started"] = True
    _marker("startup")


@echo.on_shutdown
def shutdown() -> None:
    _marker("shutdown")


@echo.server
def server() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    async def hello(request: Request) -> Response:
        ctx = flyte.app.ctx()
        return JSONResponse(
            {
                "pid": os.getpid(),
                "replica": ctx.replica,
                "port": ctx.port,
                "endpoint": ctx.endpoint,
                "started": STATE["started"],
                "greeting": os.environ.get("GREETING"),
                "x": request.query_params.get("x"),
            }
        )

    async def health(request: Request) -> Response:
        return PlainTextResponse("sick" if STATE["sick"] else "ok", status_code=500 if STATE["sick"] else 200)

    async def sick(request: Request) -> Response:
        STATE["sick"] = True
        return JSONResponse({"pid": os.getpid()})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("s", "1")))
        return JSONResponse({"pid": os.getpid()})

    return Starlette(
        routes=[
            Route("/", hello),
            Route("/health", health),
            Route("/sick", sick, methods=["POST"]),
            Route("/slow", slow),
        ]
    )
