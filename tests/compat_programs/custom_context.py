# covers: custom_context, get_custom_context, ctx().custom_context, nesting
# expect-source: anchor
# expect-exit: 0
# expect: {"out": [{"team": "data"}, {"stage": "two", "team": "data"}, {"team": "data"}, {}]}
"""custom_context passes string metadata down to child tasks, and nests."""

import json

import flyte

env = flyte.TaskEnvironment(name="custom_ctx")


@env.task
async def child() -> dict[str, str]:
    return dict(flyte.get_custom_context())


@env.task
async def parent() -> list[dict[str, str]]:
    out = []
    with flyte.custom_context(team="data"):
        out.append(await child())
        with flyte.custom_context(stage="two"):
            out.append(await child())
        out.append(dict(flyte.ctx().custom_context))
    out.append(await child())
    return out


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"out": flyte.run(parent).outputs()[0]}, sort_keys=True))
