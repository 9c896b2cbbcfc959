# covers: TaskEnvironment.clone_with, env.name, env.resources, env.env_vars
# expect-source: anchor
# expect-exit: 0
# expect: {"cpu": [1, 4], "names": ["base", "big"]}
# expect: {"env_vars": {"B": "2"}}
# expect: {"out": "base+big"}
"""clone_with makes a new environment with a new name and changed settings."""

import json

import flyte

base = flyte.TaskEnvironment(name="base", resources=flyte.Resources(cpu=1), env_vars={"A": "1"})
big = base.clone_with(name="big", resources=flyte.Resources(cpu=4, memory="4Gi"), env_vars={"B": "2"})


@big.task
async def where() -> str:
    return "big"


@base.task
async def main() -> str:
    return "base+" + await where()


if __name__ == "__main__":
    flyte.init()
    print(
        "RESULT "
        + json.dumps({"names": [base.name, big.name], "cpu": [base.resources.cpu, big.resources.cpu]})
    )
    print("RESULT " + json.dumps({"env_vars": big.env_vars}))
    print("RESULT " + json.dumps({"out": flyte.run(main).outputs()[0]}))
