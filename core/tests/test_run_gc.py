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
