"""When a Cron or FixedRate automation fires: occurrence times as POSIX seconds.

A FixedRate without ``start_time`` counts from the trigger's first activation (kept in the journal,
so a restarted scheduler keeps the same grid); with ``start_time`` it counts from there, but never
fires an occurrence before the activation. Cron uses croniter (``pip install 'flyte-core[triggers]'``),
in the automation's timezone.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from flyte._trigger import Cron, FixedRate

MAX_OCCURRENCES = 10_000
"""At most this many occurrences are computed per pass (a catch-up of a very long downtime)."""


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError:
        raise ImportError(
            "Cron triggers need croniter to compute fire times: pip install 'flyte-core[triggers]'"
        ) from None
    return croniter


def occurrences(
    automation: Cron | FixedRate,
    activated_at: float,
    after: float,
    until: float,
    limit: int = MAX_OCCURRENCES,
) -> list[float]:
    """Fire times t with ``after < t <= until`` (and t > ``activated_at``), oldest first."""
    lo = max(after, activated_at)
    if until <= lo:
        return []
    out: list[float] = []
    if isinstance(automation, FixedRate):
        step = automation.interval_minutes * 60.0
        start = automation.start_time.timestamp() if automation.start_time is not None else activated_at
        k = max(0, math.floor((lo - start) / step) + 1)
        if automation.start_time is not None and start > lo:
            k = 0
        while len(out) < limit:
            t = start + k * step
            if t > until:
                break
            if t > lo:
                out.append(t)
            k += 1
        return out
    import zoneinfo

    tz = zoneinfo.ZoneInfo(automation.timezone)
    it = _croniter()(automation.expression, datetime.fromtimestamp(lo, tz))
    while len(out) < limit:
        t = float(it.get_next(float))
        if t > until:
            break
        if t > lo:
            out.append(t)
    return out


def next_fire(automation: Cron | FixedRate, activated_at: float, after: float) -> float:
    """The first fire time after ``after``."""
    horizon = 366 * 24 * 3600.0
    if isinstance(automation, FixedRate):
        horizon = max(horizon, automation.interval_minutes * 60.0 * 2)
    found = occurrences(automation, activated_at, after, after + horizon, limit=1)
    return found[0] if found else math.inf
