# covers: RetryStrategy, Backoff, retries=int, errors.RuntimeUserError after retries
# expect-source: anchor
# expect-exit: 0
# expect: {"count": 3}
# expect: {"values": ["3", "ValueError"]}
"""A flaky child succeeds on its third attempt; one that always fails surfaces its error."""

import json
import os
import tempfile
from datetime import timedelta

import flyte
import flyte.errors

env = flyte.TaskEnvironment(name="retries")
COUNT = os.path.join(tempfile.gettempdir(), "attempts.txt")


def bump() -> int:
    with open(COUNT, "a") as f:
        f.write("x")
    with open(COUNT) as f:
        return len(f.read())


@env.task(
    retries=flyte.RetryStrategy(
        count=3, backoff=flyte.Backoff(base=timedelta(milliseconds=50), factor=2.0, cap=timedelta(seconds=1))
    )
)
async def flaky() -> int:
    n = bump()
    if n < 3:
        raise RuntimeError(f"attempt {n} failed")
    return n


@env.task(retries=1)
async def hopeless() -> int:
    raise ValueError("never works")


@env.task
async def parent() -> list[str]:
    out = [str(await flaky())]
    try:
        await hopeless()
    except flyte.errors.RuntimeUserError as e:
        out.append(e.code)
    return out


if __name__ == "__main__":
    flyte.init()
    strategy = flyte.RetryStrategy(count=3)
    print("RESULT " + json.dumps({"count": strategy.count}))
    print("RESULT " + json.dumps({"values": flyte.run(parent).outputs()[0]}))
