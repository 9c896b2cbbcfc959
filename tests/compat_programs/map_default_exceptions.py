# covers: map default return_exceptions, map return_exceptions=False raising in the parent, errors.RuntimeUserError
# expect-source: anchor
# expect-exit: 0
# expect: {"default": ["1", "RuntimeUserError", "3"]}
# expect: {"strict": "raised ValueError"}
"""By default flyte.map yields a failed item's error in place; with return_exceptions=False it raises."""

import json

import flyte
import flyte.errors

env = flyte.TaskEnvironment(name="map_default")


@env.task
def check(x: int) -> int:
    if x == 2:
        raise ValueError("two is not allowed")
    return x


@env.task
def default_mode(xs: list[int]) -> list[str]:
    return [type(r).__name__ if isinstance(r, Exception) else str(r) for r in flyte.map(check, xs)]


@env.task
def strict_mode(xs: list[int]) -> str:
    try:
        list(flyte.map(check, xs, return_exceptions=False))
    except flyte.errors.RuntimeUserError as e:
        return f"raised {e.code}"
    except Exception as e:
        return f"raised other {type(e).__name__}"
    return "no error"


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"default": flyte.run(default_mode, xs=[1, 2, 3]).outputs()[0]}))
    print("RESULT " + json.dumps({"strict": flyte.run(strict_mode, xs=[1, 2, 3]).outputs()[0]}))
