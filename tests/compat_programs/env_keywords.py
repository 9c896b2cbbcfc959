# covers: TaskEnvironment (keywords), Resources, env.name, env.tasks, task.name, Run.outputs().o0
# expect-source: anchor
# expect-exit: 0
# expect: {"env": "kw_env", "o0": 42, "tasks": ["kw_env.double"]}
# expect: {"task_name": "kw_env.double"}
"""An environment built from keywords, with resources and env vars; a run read through `.o0`."""

import json

import flyte

env = flyte.TaskEnvironment(
    name="kw_env",
    resources=flyte.Resources(cpu=1, memory="500Mi"),
    env_vars={"GREETING": "hi"},
    description="keyword environment",
)


@env.task
async def double(x: int) -> int:
    return x * 2


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(double, 21)
    outputs = run.outputs()
    print("RESULT " + json.dumps({"o0": outputs.o0, "env": env.name, "tasks": sorted(env.tasks)}))
    print("RESULT " + json.dumps({"task_name": double.name}))
