"""Issue 20: a run raises the collector's first threshold while it executes, then puts it back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import flyte
import pytest
from flyte._runtime.gctune import DEFAULT, DURING_RUN

env = flyte.TaskEnvironment(name="run_gc")


@env.task
async def thresholds() -> list[int]:
    return list(gc.get_threshold())


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_run_uses_batched_collection_and_restores(restore_gc: None) -> None:
    gc.set_threshold(*DEFAULT)
    assert flyte.run(thresholds).outputs()[0] == list(DURING_RUN)
    assert gc.get_threshold() == DEFAULT


def test_run_keeps_thresholds_the_user_chose(restore_gc: None) -> None:
    gc.set_threshold(1234, 5, 6)
    assert flyte.run(thresholds).outputs()[0] == [1234, 5, 6]
    assert gc.get_threshold() == (1234, 5, 6)


def test_failed_run_restores(restore_gc: None) -> None:
    @env.task
    async def boom() -> int:
        raise ValueError("no")

    gc.set_threshold(*DEFAULT)
    with pytest.raises(Exception, match="no"):
        flyte.run(boom)
    assert gc.get_threshold() == DEFAULT


# ---- a big fan-out in flight (gctune.follow) ---------------------------------------------------------

FAN = 3000  # above gctune.WIDE_FROM: the threshold is raised while these are in flight


@env.task
async def first_threshold(i: int) -> int:
    return gc.get_threshold()[0]


@env.task
async def wide_fanout(n: int) -> tuple[list[int], int]:
    import asyncio

    seen = await asyncio.gather(*(first_threshold(i) for i in range(n)))
    gc.collect()  # the fan-out's objects are gone: the next call finds the young generation empty
    after = await first_threshold(-1)
    return seen, after


def test_fanout_raises_threshold_while_in_flight_then_back(restore_gc: None) -> None:
    from flyte._runtime import gctune

    gc.set_threshold(*DEFAULT)
    seen, after = flyte.run(wide_fanout, n=FAN).outputs()
    # every child ran while ~3000 siblings were in flight (called, started or waiting for the commit)
    assert min(seen) >= gctune.PER_ACTION * gctune.WIDE_FROM > DURING_RUN[0]
    assert max(seen) <= gctune.WIDE_CAP
    assert after == DURING_RUN[0]  # once the fan-out is over, the run's own threshold again
    assert gc.get_threshold() == DEFAULT  # and the process's after the run


def test_fanout_keeps_thresholds_the_user_chose(restore_gc: None) -> None:
    gc.set_threshold(1234, 5, 6)
    seen, after = flyte.run(wide_fanout, n=FAN).outputs()
    assert set(seen) == {1234} and after == 1234
    assert gc.get_threshold() == (1234, 5, 6)


def test_follow_steps_caps_and_waits_for_young_objects(restore_gc: None) -> None:
    from flyte._runtime import gctune

    gc.set_threshold(*DURING_RUN)
    assert gctune.follow(10) == (gctune.WIDE_FROM, 0)  # few in flight: nothing to do
    assert gc.get_threshold() == DURING_RUN
    nxt, low = gctune.follow(2000)
    assert gc.get_threshold() == (gctune.PER_ACTION * 4000, *DURING_RUN[1:])
    assert (nxt, low) == (4000, 500)
    gctune.follow(1500)  # fewer, but still many: never lowered while a fan-out is in flight
    assert gc.get_threshold()[0] == gctune.PER_ACTION * 4000
    assert gctune.follow(10**6)[0] == gctune.NEVER and gc.get_threshold()[0] == gctune.WIDE_CAP
    held = [[i] for i in range(DURING_RUN[0] + 1000)]  # young objects still alive: not back yet
    assert gc.get_count()[0] >= DURING_RUN[0]
    assert gctune.follow(3) == (0, 3) and gc.get_threshold()[0] == gctune.WIDE_CAP
    del held
    gc.collect()
    assert gctune.follow(2) == (gctune.WIDE_FROM, 0) and gc.get_threshold() == DURING_RUN
    gc.set_threshold(1234, 5, 6)  # not the run's tuning: left alone
    assert gctune.follow(10**5) == (gctune.NEVER, 0) and gc.get_threshold() == (1234, 5, 6)


@env.task(cache="auto")
async def cached_threshold(i: int) -> int:
    return gc.get_threshold()[0]


@env.task
async def wide_cached_fanout(n: int) -> int:
    import asyncio

    await asyncio.gather(*(cached_threshold(i) for i in range(n)))
    gc.collect()
    return await first_threshold(-2)


def test_fanout_of_cache_hits_also_goes_back(restore_gc: None) -> None:
    gc.set_threshold(*DEFAULT)
    flyte.run(wide_cached_fanout, n=FAN)  # fills the cache
    # every child a cache hit: none of them reaches an action's end, the threshold still goes back
    assert flyte.run(wide_cached_fanout, n=FAN).outputs()[0] == DURING_RUN[0]
    assert gc.get_threshold() == DEFAULT
