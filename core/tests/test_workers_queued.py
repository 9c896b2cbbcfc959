"""Process mode, children queued for a CPU share: each is sent from the callback that freed the
share (issue 20), to the worker the previous child just left, and a child abandoned while it waits
gives its place back."""

from __future__ import annotations

import os

import flyte
import pytest
import queued_send_app as app

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")


def test_queued_children_reuse_the_freed_worker() -> None:
    """One CPU, children asking one core each: they run one at a time, every queued one on the worker
    the previous one freed (the share is given back after the worker slot, so no new worker starts)."""
    out = flyte.with_runcontext(isolation="process", max_cpus=1).run(app.fan_pids, n=40).outputs()[0]
    assert sorted(i for i, _ in out) == list(range(40))
    assert len({p for _, p in out}) == 1, out
    assert all(p != os.getpid() for _, p in out)


def test_two_cpus_two_workers() -> None:
    out = flyte.with_runcontext(isolation="process", max_cpus=2).run(app.fan_pids, n=60).outputs()[0]
    assert sorted(i for i, _ in out) == list(range(60))
    assert len({p for _, p in out}) <= 2, out


def test_abandoned_queued_children_give_their_place_back() -> None:
    """One child runs on the one CPU, ten wait behind it and are abandoned: the parent's later
    children still get the CPU (an abandoned child granted a share would keep it for ever)."""
    run = flyte.with_runcontext(max_cpus=1).run(app.abandon_then_run, n=10)
    assert run.outputs()[0] == [100, 101, 102]
