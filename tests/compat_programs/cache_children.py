# covers: Cache, cache="auto", cache="disable", Cache(behavior, version_override), ignored inputs
# expect-source: anchor
# expect-exit: 0
# expect: {"first": [3, 3, 6, 6, 6, 7, 7], "second": [3, 3, 6, 6, 6, 7, 7]}
# expect: {"calls": ["cached-1", "cached-2", "uncached-7", "uncached-7", "uncached-7", "uncached-7", "versioned-5", "versioned-5", "versioned-5", "versioned-5"]}
"""Cached children run once per distinct input; a disabled cache runs every time."""

import json
import os
import tempfile

import flyte

env = flyte.TaskEnvironment(name="caching")
LOG = os.path.join(tempfile.gettempdir(), "cache_calls.txt")


def note(tag: str) -> None:
    with open(LOG, "a") as f:
        f.write(tag + "\n")


@env.task(cache="auto")
async def cached(x: int) -> int:
    note(f"cached-{x}")
    return x * 3


@env.task(cache=flyte.Cache(behavior="override", version_override="v1", ignored_inputs=("noise",)))
async def versioned(x: int, noise: str) -> int:
    note(f"versioned-{x}")
    return x + 1


@env.task(cache="disable")
async def uncached(x: int) -> int:
    note(f"uncached-{x}")
    return x


@env.task
async def parent() -> list[int]:
    out = [await cached(1), await cached(1), await cached(2)]
    out += [await versioned(5, "a"), await versioned(5, "b")]
    out += [await uncached(7), await uncached(7)]
    return out


if __name__ == "__main__":
    flyte.init()
    first = flyte.run(parent).outputs()[0]
    second = flyte.run(parent).outputs()[0]
    with open(LOG) as f:
        calls = sorted(f.read().split())
    print("RESULT " + json.dumps({"first": first, "second": second}))
    print("RESULT " + json.dumps({"calls": calls}))
