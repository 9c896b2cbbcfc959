# covers: with_runcontext (mode="local", env_vars, custom_context, name, overwrite_cache), ctx().custom_context
# expect-source: anchor
# expect-exit: 0
# expect: {"run_name_set": "True", "tenant": "acme"}
"""with_runcontext(...).run sets run-wide options: local mode, custom context (env_vars are accepted; the
anchor's local mode does not export them, so they are not checked here)."""

import json

import flyte

env = flyte.TaskEnvironment(name="runctx")


@env.task
async def inspect() -> dict[str, str]:
    return {
        "tenant": flyte.ctx().custom_context.get("tenant", "?"),
        "run_name_set": str(bool(flyte.ctx().action.run_name)),
    }


if __name__ == "__main__":
    flyte.init()
    run = flyte.with_runcontext(
        mode="local",
        env_vars={"RUNCTX_FLAG": "on"},
        custom_context={"tenant": "acme"},
        overwrite_cache=True,
    ).run(inspect)
    print("RESULT " + json.dumps(run.outputs()[0], sort_keys=True))
