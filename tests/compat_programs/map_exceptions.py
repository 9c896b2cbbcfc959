# covers: map return_exceptions, map with functools.partial, errors.RuntimeUserError
# expect-source: anchor
# expect-exit: 0
# expect: {"values": ["10.0", "error:RuntimeUserError:True", "2.5"]}
"""flyte.map with return_exceptions=True hands back failures in place; partials bind fixed args."""

import functools
import json

import flyte
import flyte.errors

env = flyte.TaskEnvironment(name="map_exc")


@env.task
def reciprocal(scale: int, x: int) -> float:
    if x == 0:
        raise ZeroDivisionError("x is zero")
    return scale / x


@env.task
def collect(xs: list[int]) -> list[str]:
    out = []
    for r in flyte.map(functools.partial(reciprocal, 10), xs, return_exceptions=True):
        if isinstance(r, Exception):
            out.append("error:" + type(r).__name__ + ":" + str(isinstance(r, flyte.errors.RuntimeUserError)))
        else:
            out.append(str(r))
    return out


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"values": flyte.run(collect, xs=[1, 0, 4]).outputs()[0]}))
