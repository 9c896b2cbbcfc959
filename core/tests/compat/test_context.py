"""``flyte.ctx()`` has the reference SDK's ``TaskContext`` fields, with local values that make sense."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import flyte
import pytest
from flyte._context import ActionID, RawDataPath

env = flyte.TaskEnvironment(name="compat_ctx")


@env.task
async def describe() -> dict[str, Any]:
    c = flyte.ctx()
    assert c
    return {
        "action": c.action,
        "task_action": c.task_action,
        "run_name": c.run_name,
        "action_id": c.action_id,
        "action_name": c.action_name,
        "raw_data_path": c.raw_data_path,
        "path": c.raw_data_path.path,
        "mode": c.mode,
        "in_cluster": c.is_in_cluster(),
        "attempt": c.attempt_number,
        "custom": c.custom_context,
        "group": None if c.group_data is None else c.group_data.name,
        "checkpoint": c.checkpoint_paths.checkpoint_path if c.checkpoint_paths else None,
        "start": c.run_start_time,
        "disable_run_cache": c.disable_run_cache,
        "output_path": c.output_path,
        "run_base_dir": c.run_base_dir,
    }


@env.task
async def in_a_group() -> dict[str, Any]:
    with flyte.group("phase-1"):
        return await describe()


_tries: dict[str, int] = {}


@env.task(retries=2)
async def flaky(key: str) -> int:
    c = flyte.ctx()
    _tries[key] = _tries.get(key, 0) + 1
    if c.attempt_number < 1:
        raise ConnectionError("first attempt fails")
    return c.attempt_number


@env.task
async def keeps_data() -> str:
    flyte.ctx().data["seen"] = "yes"
    return str(flyte.ctx()["seen"])


def test_outside_a_task_ctx_is_falsy_with_none_fields() -> None:
    c = flyte.ctx()
    assert not c
    assert c.action is None and c.raw_data_path is None and c.mode is None and c.custom_context is None
    assert c["anything"] is None and c.attempt_number == 0


def test_inside_a_task_the_action_and_paths_are_this_runs() -> None:
    start = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    run = flyte.with_runcontext(
        name="ctx-1", custom_context={"team": "ml"}, run_start_time=start, disable_run_cache=True
    ).run(describe)
    d = run.outputs()[0]
    assert isinstance(d["action"], ActionID)
    assert d["action"].run_name == "ctx-1" == d["run_name"]
    assert d["action"].name == d["action_id"] and d["task_action"] == d["action"]
    assert d["action_name"] == "compat_ctx.describe"
    assert isinstance(d["raw_data_path"], RawDataPath) and d["path"] == d["raw_data_path"]
    assert d["path"].endswith("/runs/ctx-1") and d["run_base_dir"] == d["path"]
    assert d["output_path"].startswith(d["path"]) and d["action_id"] in d["output_path"]
    assert (d["mode"], d["in_cluster"], d["attempt"]) == ("local", False, 0)
    assert d["custom"] == {"team": "ml"}
    assert d["start"] == start and d["disable_run_cache"] is True
    assert d["checkpoint"].startswith(d["output_path"]) and d["group"] is None


def test_run_start_time_defaults_to_when_the_run_began() -> None:
    before = datetime.datetime.now(datetime.UTC)
    d = flyte.run(describe).outputs()[0]
    assert before - datetime.timedelta(seconds=1) <= d["start"] <= datetime.datetime.now(datetime.UTC)


def test_group_data_names_the_group_a_child_was_called_in() -> None:
    d = flyte.run(in_a_group).outputs()[0]
    assert d["group"] == "phase-1"


def test_attempt_number_counts_retries() -> None:
    assert flyte.run(flaky, "k1").outputs()[0] == 1
    assert _tries["k1"] == 2


def test_data_is_per_action_and_indexable() -> None:
    assert flyte.run(keeps_data).outputs()[0] == "yes"


def test_task_context_replace_keeps_the_rest(tmp_path: Path) -> None:
    from flyte._context import NULL_TASK_CONTEXT, TaskContext

    c = TaskContext(
        action=ActionID(name="a", run_name="r"),
        run_name="r",
        action_id="a",
        action_name="t",
        attempt=0,
        group=None,
        raw_data_path=RawDataPath(str(tmp_path)),
    )
    d = c.replace(mode="remote")
    assert d.is_in_cluster() and d.action == c.action and not NULL_TASK_CONTEXT
    with pytest.raises(TypeError):
        TaskContext(action=ActionID(name="a"))  # type: ignore[call-arg]
