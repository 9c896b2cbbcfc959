"""Action IDs and cache keys are a compatibility guarantee: recovery matches recorded actions by ID
and the cache by key across SDK versions. These values were computed by the code before the
formulas moved to ``flyte._runtime.identity``; a change here breaks every recorded run."""

from __future__ import annotations

from pathlib import Path

import flyte
from flyte._runtime import reader

env = flyte.TaskEnvironment(name="pin")


@env.task(cache=flyte.Cache(behavior="override", version_override="v1", salt="s"))
async def leaf(x: int) -> int:
    return x + 1


@env.task
async def mid(x: int) -> int:
    traced = await step(x)
    return await leaf(x) + await leaf(x) + await leaf(x + 1) + traced


@flyte.trace
async def step(x: int) -> int:
    return x * 2


def _ids(run: str) -> dict[tuple[str | None, int], tuple[str, str]]:
    rows = reader.list_actions(run)
    return {(a["parent_id"], a["position"]): (a["action_id"], a["task_name"]) for a in rows}


def test_action_ids_and_cache_keys_are_pinned(flyte_home: Path) -> None:
    r = flyte.with_runcontext(name="pinned-run").run(mid, x=3)
    assert r.outputs()[0] == 4 + 4 + 5 + 6
    got = _ids("pinned-run")
    assert got == PINNED_IDS
    j = reader.journal()
    for key in PINNED_CACHE_KEYS:
        assert j.cache_get(key) is not None, key
    assert j.cache_get("0" * 32) is None  # the check above can fail


_ROOT = "45c2b05c931a9ff07fefeac2c42feeea"
PINNED_IDS: dict[tuple[str | None, int], tuple[str, str]] = {
    (None, 0): (_ROOT, "pin.mid"),
    (_ROOT, 0): ("4f43780de5779dc6abb2d0370e6cbadb", "test_identity_pinned.step"),
    (_ROOT, 1): ("e595996d6eb94f4fe374d67b0170e451", "pin.leaf"),
    (_ROOT, 2): ("8bb53243c449cfb8e292fddbd660d32c", "pin.leaf"),  # same call again: next sequence
    (_ROOT, 3): ("e5a4b4a50b2c03c382a494cf1d6bc684", "pin.leaf"),
}
PINNED_CACHE_KEYS = ["66136f1591042edd0e80e813026cbeae", "e8b4d95d9d0fdd090af17a9729a2e075"]
