"""An app that reports its parameters (for the flyte.app.Parameter / get_parameter tests)."""

from __future__ import annotations

import os
from typing import Any

import flyte.app
import flyte.io

params = flyte.app.AppEnvironment(
    name="params",
    scaling=flyte.app.Scaling(replicas=1),
    requires_auth=False,
    parameters=[
        flyte.app.Parameter("model", "gpt-tiny", env_var="MODEL_NAME"),
        flyte.app.Parameter("weights", flyte.io.File(path="/tmp/weights.bin")),
    ],
)


@params.server
def server() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def show(request: Any) -> JSONResponse:
        name = request.path_params["name"]
        try:
            value = flyte.app.get_parameter(name)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        return JSONResponse({"value": value, "env": os.environ.get("MODEL_NAME")})

    return Starlette(routes=[Route("/p/{name}", show)])
