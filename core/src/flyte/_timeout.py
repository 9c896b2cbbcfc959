"""Wall-clock bounds on a task, so a run always makes progress.

- ``max_runtime``: one attempt may run this long (reset on each retry).
- ``max_queued_time``: one attempt may wait this long to start.
- ``deadline``: all attempts together must finish within this long of the first queueing.

Durations are seconds (int/float) or timedeltas and are stored as timedeltas. Zero (or None) means
unlimited, as in the anchor SDK; negative durations are rejected when the value is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flyte.errors import InvalidParameterError, InvalidParameterTypeError

__all__ = ["Timeout", "TimeoutType", "normalize_timeout", "timeout_from_request"]

Duration = timedelta | int | float
_ACCEPTED = (
    "Use a positive number of seconds (e.g. 600) or a datetime.timedelta (e.g. timedelta(minutes=10)); "
    "0 or None means no limit."
)


def _to_timedelta(owner: str, param: str, value: object) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidParameterTypeError(
            owner, param, value, f"Timeout must be an instance of Timeout, int, or timedelta. {_ACCEPTED}"
        )
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise InvalidParameterError(owner, param, value, _ACCEPTED)
    if seconds == 0:
        return None
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


@dataclass(frozen=True)
class Timeout:
    """Timeout bounds for a task; see the module docstring. Fields are stored as timedeltas or None."""

    max_runtime: Duration | None = None
    max_queued_time: Duration | None = None
    deadline: Duration | None = None

    def __post_init__(self) -> None:
        for name in ("max_runtime", "max_queued_time", "deadline"):
            object.__setattr__(self, name, _to_timedelta("Timeout", name, getattr(self, name)))

    @staticmethod
    def _secs(value: Duration | None) -> float | None:
        if value is None:
            return None
        return value.total_seconds() if isinstance(value, timedelta) else float(value)

    @property
    def max_runtime_seconds(self) -> float | None:
        """Per-attempt runtime bound in seconds; None when unlimited."""
        return self._secs(self.max_runtime)

    @property
    def max_queued_seconds(self) -> float | None:
        """Per-attempt queueing bound in seconds; None when unlimited."""
        return self._secs(self.max_queued_time)

    @property
    def deadline_seconds(self) -> float | None:
        """Bound over all attempts in seconds; None when unlimited."""
        return self._secs(self.deadline)

    def is_unlimited(self) -> bool:
        """True when no bound is set."""
        return self.max_runtime is None and self.max_queued_time is None and self.deadline is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for task specs (seconds, None = unlimited)."""
        return {
            "max_runtime_seconds": self.max_runtime_seconds,
            "max_queued_seconds": self.max_queued_seconds,
            "deadline_seconds": self.deadline_seconds,
        }


TimeoutType = Timeout | int | float | timedelta


def normalize_timeout(value: Timeout | Duration | None, owner: str) -> Timeout | None:
    """Turn a user's ``timeout=`` into a :class:`Timeout`, or None for no limit.

    A bare number of seconds or a timedelta means ``max_runtime``.
    """
    if value is None:
        return None
    if isinstance(value, Timeout):
        return None if value.is_unlimited() else value
    runtime = _to_timedelta(owner, "timeout", value)
    return None if runtime is None else Timeout(max_runtime=runtime)


def timeout_from_request(timeout: TimeoutType) -> Timeout:
    """Anchor-compatible: a number or timedelta becomes ``Timeout(max_runtime=...)``."""
    if isinstance(timeout, Timeout):
        return timeout
    return Timeout(max_runtime=_to_timedelta("Timeout", "timeout", timeout))
