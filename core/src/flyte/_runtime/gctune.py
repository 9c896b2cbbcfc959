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
        if gc.get_threshold() == DURING_RUN:  # a concurrent run (another thread) may still be running:
            gc.set_threshold(*before)  # it loses the tuning, never the collector
