# covers: errors.RuntimeUserError, errors.BaseRuntimeError, error .code, run raises
# expect-source: anchor
# expect-exit: 0
# expect: {"code": "KeyError", "is_base": true, "is_runtime_error": true, "mentions_message": true, "type": "RuntimeUserError"}
"""The error flyte.run raises for a failing task: its type, code and message."""

import json

import flyte
import flyte.errors

env = flyte.TaskEnvironment(name="fails_caught")


@env.task
async def explode(x: int) -> int:
    raise KeyError(f"missing-{x}")


if __name__ == "__main__":
    flyte.init()
    try:
        flyte.run(explode, x=3)
    except flyte.errors.RuntimeUserError as e:
        print(
            "RESULT "
            + json.dumps(
                {
                    "type": type(e).__name__,
                    "code": e.code,
                    "is_base": isinstance(e, flyte.errors.BaseRuntimeError),
                    "is_runtime_error": isinstance(e, RuntimeError),
                    "mentions_message": "missing-3" in str(e),
                }
            )
        )
    else:
        raise SystemExit("flyte.run did not raise")
