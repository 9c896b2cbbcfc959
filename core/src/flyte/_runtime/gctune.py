"""Garbage-collector settings while a run executes (issue 20).

A fan-out keeps thousands of actions in flight, each a few container objects (its task, coroutine
frames, futures, rows). With CPython's default first-generation threshold (700 allocations) the
collector then walks every live object again and again: measured on the 10k fan-out, 40% of the
controller's CPU time. A run raises the threshold while it executes and puts back what was there;
cycles are still collected, only in bigger batches. A process whose thresholds were changed by the
user (anything but the defaults) is left alone.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT = (700, 10, 10)
DURING_RUN = (20_000, 20, 20)

# While a big fan-out is in flight (issue 20): every first-generation collection during it visits
# objects that are all still alive (each child's task, coroutine, rows) and frees nothing, and the
# total visited does not shrink with a bigger fixed threshold (fewer collections, each of more
# objects). A threshold above what the fan-out allocates lets those objects die by reference count
# before any collection sees them: measured, ~2.5 µs less CPU a child of the 10k fan-out. So the
# threshold follows the number of actions in flight (in doubling steps, capped) and goes back to the
# run's once few are in flight and the young objects have died (going back while they are alive
# would start a collection of all of them at once). Cyclic garbage meanwhile waits longer, bounded
# by the cap.
WIDE_FROM = 1024  # actions in flight before the threshold is raised at all
PER_ACTION = 32  # first-generation threshold per action in flight (x2: room to the next step)
WIDE_CAP = 500_000
NEVER = 1 << 62  # an in-flight count never reached

_widened: set[int] = set()  # first-generation thresholds set by follow() (what run_thresholds undoes)


def _ours(threshold: tuple[int, int, int]) -> bool:
    return threshold == DURING_RUN or (threshold[0] in _widened and threshold[1:] == DURING_RUN[1:])


def follow(in_flight: int) -> tuple[int, int]:
    """Set the first-generation threshold for ``in_flight`` actions of a run.

    Returns (call again when this many are in flight, or when fewer than this many are): the caller
    checks two integers per action, and calls here only at a step. A run that did not tune the
    collector (the user's own thresholds) is left alone."""
    cur = gc.get_threshold()
    if not _ours(cur):
        return NEVER, 0
    if in_flight >= WIDE_FROM:
        gen0 = min(WIDE_CAP, PER_ACTION * 2 * in_flight)
        if gen0 > cur[0]:  # never lowered while many are in flight
            _widened.add(gen0)
            gc.set_threshold(gen0, *DURING_RUN[1:])
            cur = gc.get_threshold()
        return (NEVER if cur[0] >= WIDE_CAP else 2 * in_flight), in_flight // 4
    if cur == DURING_RUN:
        return WIDE_FROM, 0
    if gc.get_count()[0] < DURING_RUN[0]:  # the fan-out's objects have died: back to the run's
        gc.set_threshold(*DURING_RUN)
        return WIDE_FROM, 0
    return 0, in_flight  # not yet: look again at the next action's start or end


@contextmanager
def run_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    if before != DEFAULT:
        yield
        return
    gc.set_threshold(*DURING_RUN)
    try:
        yield
    finally:
        if _ours(gc.get_threshold()):  # a concurrent run (another thread) may still be running:
            gc.set_threshold(*before)  # it loses the tuning, never the collector
