"""A clock and a sleep that are recorded in the journal.

A replayed parent sees the same ``now()``/``time()`` values as the first execution, and a recovered
``sleep()`` waits only for what is left of it. Outside a run they are the plain clock and sleep.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import time as _time

from flyte._context import current_action

__all__ = ["now", "sleep", "time"]


async def _recorded_clock(op: str) -> float:
    ac = current_action.get()
    if ac is None:
        return _time.time()
    from flyte import _recorded as r

    aid, pos = r.step_id(ac, "durable", op, "")
    hit, value = r.replayed(ac, aid)
    if hit:
        return float(value)
    value = _time.time()
    await r.record(ac, aid, pos, "durable", op, b"J{}", value, value)
    return value


async def time() -> float:
    """Seconds since the epoch, recorded: the same value when the run is replayed."""
    return await _recorded_clock("time")


async def now() -> _dt.datetime:
    """The current UTC datetime, recorded: the same value when the run is replayed."""
    return _dt.datetime.fromtimestamp(await _recorded_clock("now"), tz=_dt.UTC)


async def sleep(seconds: float) -> None:
    """Sleep; the wake-up time is recorded, so after a crash only the remaining time is waited."""
    ac = current_action.get()
    if ac is None:
        await asyncio.sleep(seconds)
        return
    from flyte import _recorded as r

    aid, pos = r.step_id(ac, "durable", "sleep", repr(float(seconds)))
    hit, wake = r.replayed(ac, aid)
    if not hit:
        wake = _time.time() + seconds
        await r.record(ac, aid, pos, "durable", "sleep", b"J{}", wake, _time.time())
    remaining = float(wake) - _time.time()
    if remaining > 0:
        await asyncio.sleep(remaining)
