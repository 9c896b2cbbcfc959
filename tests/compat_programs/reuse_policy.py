# covers: ReusePolicy, TaskEnvironment(reusable=...), Image.from_debian_base, with_pip_packages
# expect-source: anchor
# expect-exit: 0
# expect: {"concurrency": 4, "replicas": [2, 2]}
# expect: {"total": 36}
"""An environment declared reusable still runs its tasks locally."""

import json
from datetime import timedelta

import flyte

policy = flyte.ReusePolicy(replicas=2, idle_ttl=timedelta(minutes=5), concurrency=4)
env = flyte.TaskEnvironment(
    name="reusable",
    reusable=policy,
    image=flyte.Image.from_debian_base().with_pip_packages("unionai-reuse"),
)


@env.task
async def cube(x: int) -> int:
    return x**3


@env.task
async def total(n: int) -> int:
    s = 0
    for i in range(n):
        s += await cube(i)
    return s


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"replicas": policy.replicas, "concurrency": policy.concurrency}))
    print("RESULT " + json.dumps({"total": flyte.run(total, n=4).outputs()[0]}))
