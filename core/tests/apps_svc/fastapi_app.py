"""A FastAPI app for the flyte.app.extras tests: query, path and pydantic-body endpoints, a health
route that can turn sick, and an endpoint that runs a flyte task (as the reference examples do)."""

from __future__ import annotations

import os
from typing import Any

import flyte
import flyte.app
from fastapi import FastAPI, Response
from flyte.app.extras import FastAPIAppEnvironment
from pydantic import BaseModel

app = FastAPI(title="Adder")

env = FastAPIAppEnvironment(
    name="adder",
    app=app,
    port=8080,
    resources=flyte.Resources(cpu=1, memory="256Mi"),
    scaling=flyte.app.Scaling(replicas=(2, 2)),
    requires_auth=False,
)

tasks = flyte.TaskEnvironment(name="adder-tasks")
STATE = {"sick": False}


class Item(BaseModel):
    name: str
    price: float
    quantity: int = 1


@tasks.task
async def double(x: int) -> int:
    return x * 2


@app.get("/")
async def add_one(x: int) -> dict[str, Any]:
    return {"result": x + 1, "pid": os.getpid(), "port": flyte.app.ctx().port}


@env.app.post("/items/{item_id}")
async def create_item(item_id: int, item: Item) -> dict[str, Any]:
    return {"id": item_id, "name": item.name, "total": item.price * item.quantity}


@app.get("/double")
async def double_endpoint(x: int) -> dict[str, Any]:
    run = flyte.with_runcontext(mode=flyte.app.ctx().mode).run(double, x=x)
    return {"result": run.outputs()[0], "run": run.name}


@app.get("/health")
async def health(response: Response) -> dict[str, str]:
    if STATE["sick"]:
        response.status_code = 500
        return {"status": "sick"}
    return {"status": "healthy"}


@app.post("/sick")
async def sick() -> dict[str, int]:
    STATE["sick"] = True
    return {"pid": os.getpid()}
