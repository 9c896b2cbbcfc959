# covers: Run.wait, Run.name, Run.url, Run.outputs (repeatable), run with positional + keyword args
# expect-source: anchor
# expect-exit: 0
# expect: {"name_is_str": true, "url_is_str": true}
# expect: {"again": 27, "first": 27}
"""The Run handle: wait, name, url and outputs that can be read more than once."""

import json

import flyte

env = flyte.TaskEnvironment(name="run_handle")


@env.task
async def power(base: int, exp: int = 2) -> int:
    return base**exp


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(power, 3, exp=3)
    run.wait()
    print(
        "RESULT "
        + json.dumps(
            {
                "name_is_str": isinstance(run.name, str) and bool(run.name),
                "url_is_str": isinstance(run.url, str),
            }
        )
    )
    print("RESULT " + json.dumps({"first": run.outputs()[0], "again": run.outputs()[0]}))
