# covers: errors.RuntimeUserError in a parent, error .code, recovering from a child's failure
# expect-source: anchor
# expect-exit: 0
# expect: {"values": ["10", "RuntimeUserError/ValueError", "20"]}
"""A parent catches its child's failure as flyte.errors.RuntimeUserError and recovers."""

import json

import flyte
import flyte.errors

env = flyte.TaskEnvironment(name="recover")


@env.task
async def risky(x: int) -> int:
    if x < 0:
        raise ValueError("negative input")
    return x * 10


@env.task
async def parent(xs: list[int]) -> list[str]:
    out = []
    for x in xs:
        try:
            out.append(str(await risky(x)))
        except flyte.errors.RuntimeUserError as e:
            out.append(f"{type(e).__name__}/{e.code}")
    return out


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"values": flyte.run(parent, xs=[1, -1, 2]).outputs()[0]}))
