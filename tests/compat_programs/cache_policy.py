# covers: CachePolicy (custom policy), Cache(policies=...), Cache.get_version
# expect-source: anchor
# expect-exit: 0
# expect: {"policy_is_protocol": true}
# expect: {"behavior": "auto", "salt": "s1"}
# expect: {"out": 9}
"""A user-defined cache policy participates in the cache version; the task still runs."""

import json

import flyte


class FixedPolicy:
    """A policy that pins the version to a constant string."""

    def get_version(self, salt: str, params) -> str:
        return "fixed-" + salt


env = flyte.TaskEnvironment(name="policy")
cache = flyte.Cache(behavior="auto", policies=[FixedPolicy()], salt="s1")


@env.task(cache=cache)
async def work(x: int) -> int:
    return x - 1


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"policy_is_protocol": isinstance(FixedPolicy(), flyte.CachePolicy)}))
    print("RESULT " + json.dumps({"behavior": cache.behavior, "salt": cache.salt}))
    print("RESULT " + json.dumps({"out": flyte.run(work, x=10).outputs()[0]}))
