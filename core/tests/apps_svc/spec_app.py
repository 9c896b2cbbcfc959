"""Apps whose specs are checked against golden files (test_app_spec.py), plus a task beside them."""

from __future__ import annotations

from typing import Any

import flyte
import flyte.app

api = flyte.app.AppEnvironment(
    name="model-api",
    image=flyte.Image.from_debian_base(python_version=(3, 12), flyte_version="2.0.0"),
    resources=flyte.Resources(cpu=(1, 2), memory="2Gi", gpu="A100:1", shm="1Gi"),
    env_vars={"MODEL": "tiny", "LOG_LEVEL": "info"},
    secrets=["hf-token", flyte.Secret("db-pass", group="db", as_env_var="DB_PASSWORD")],
    port=flyte.app.Port(port=8000, name="http1"),
    scaling=flyte.app.Scaling(replicas=(1, 4), metric=flyte.app.Scaling.Concurrency(10), scaledown_after=60),
    requires_auth=True,
    domain=flyte.app.Domain(subdomain="models"),
    links=[flyte.app.Link(path="/docs", title="API docs", is_relative=True)],
    timeouts=flyte.app.Timeouts(request=30),
    description="Serves the model.",
    type="starlette",
)


@api.server
def server() -> Any:
    from starlette.applications import Starlette

    return Starlette()


static = flyte.app.AppEnvironment(
    name="static-files",
    image="nginx:1.27",
    command="nginx -g 'daemon off;'",
    port=80,
    scaling=flyte.app.Scaling(replicas=2),
    requires_auth=False,
)

env = flyte.TaskEnvironment(name="spec-tasks")


@env.task
def ping(x: int) -> int:
    return x
