"""Every in-process body runs pre -> execute -> post through ``TaskTemplate.run_hooks``: what ``pre``
returns is visible to the body as ``flyte.ctx()[key]``, in the driver and in a worker process alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flyte
import pytest
from flyte.extend import AsyncFunctionTaskTemplate

env = flyte.TaskEnvironment(name="hooks")


class _SessionTask(AsyncFunctionTaskTemplate):  # type: ignore[type-arg]
    async def pre(self) -> dict[str, Any]:
        return {"session": "open"}

    async def post(self, outputs: Any) -> Any:
        return f"{outputs}/closed"


@env.task
async def uses_session() -> str:
    ctx = flyte.ctx()
    return str(ctx["session"]) if ctx is not None else "no-ctx"


uses_session.__class__ = _SessionTask  # a task type with hooks, without registering a plugin


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_pre_data_reaches_the_body_and_post_wraps_the_output(flyte_home: Path, isolation: str) -> None:
    r = flyte.with_runcontext(isolation=isolation).run(uses_session)
    assert r.outputs()[0] == "open/closed"
