# covers: ctx (inside and outside a task), ctx().action, ctx().mode, ctx().is_in_cluster, ctx().raw_data_path
# expect-source: anchor
# expect-exit: 0
# expect: {"outside_is_falsy": true}
# expect: {"has_action_name": true, "has_ctx": true, "has_raw_data_path": true, "has_run_name": true, "in_cluster": false}
"""flyte.ctx() is empty outside a task and describes the action inside one."""

import json

import flyte

env = flyte.TaskEnvironment(name="ctx")


@env.task
async def describe() -> dict[str, object]:
    c = flyte.ctx()
    return {
        "has_ctx": c is not None,
        "has_action_name": bool(c.action.name),
        "has_run_name": bool(c.action.run_name),
        "in_cluster": c.is_in_cluster(),
        "has_raw_data_path": c.raw_data_path is not None,
    }


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"outside_is_falsy": not flyte.ctx()}))
    print("RESULT " + json.dumps(flyte.run(describe).outputs()[0], sort_keys=True))
