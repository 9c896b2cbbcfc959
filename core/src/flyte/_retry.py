"""User retries: how many times a failed task is tried again, and how long to wait in between.

``RetryStrategy.count`` counts *user* retries (the user's code raised). System faults (storage,
workers) are retried by the runtime and do not count against it, and ``NonRecoverableError`` is never
retried. The count is capped at 10, as the Flyte documentation requires.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flyte._validate import param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

if TYPE_CHECKING:
    import random

__all__ = ["MAX_RETRIES", "Backoff", "RetryStrategy", "normalize_retries"]

MAX_RETRIES = 10
_COUNT_ACCEPTED = (
    f"Use an int from 0 to {MAX_RETRIES} (user retries must be less than or equal to {MAX_RETRIES}), "
    "or flyte.RetryStrategy(count=3, backoff=flyte.Backoff(...))."
)


def _seconds(owner: str, param: str, value: object, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, timedelta):
        number = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        number = math.nan
    if math.isnan(number) or math.isinf(number) or number < 0:
        none_hint = ", or None" if allow_none else ""
        raise param_error(
            owner,
            param,
            value,
            f"Backoff.{param} must be >= 0: use a duration in seconds (e.g. 1.5) or a timedelta{none_hint}.",
            types=(int, float, timedelta),
        )
    return number


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between user retries: retry ``n`` (0-indexed) waits ``min(base * factor**n, cap)``.

    ``base`` and ``cap`` are timedeltas (seconds as int/float are accepted and stored as timedeltas).
    ``factor=1`` (the default) gives a constant delay of ``base``; a cap is required when
    ``factor > 1`` so delays cannot grow without bound.
    """

    base: timedelta | float = timedelta(seconds=1)
    factor: float = 1.0
    cap: timedelta | float | None = None

    def __post_init__(self) -> None:
        base = _seconds("Backoff", "base", self.base) or 0.0
        object.__setattr__(self, "base", _as_timedelta(self.base, base))
        factor = self.factor
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor):
            raise InvalidParameterTypeError(
                "Backoff", "factor", factor, "Backoff.factor must be a finite number >= 1.0 (1.0 = constant)."
            )
        if factor < 1.0:
            raise InvalidParameterError(
                "Backoff",
                "factor",
                factor,
                "Backoff.factor must be >= 1.0 (1.0 = constant delay, 2.0 = doubling).",
            )
        cap = _seconds("Backoff", "cap", self.cap, allow_none=True)
        object.__setattr__(self, "cap", None if cap is None else _as_timedelta(self.cap, cap))
        if self.cap is None and factor > 1.0:
            raise InvalidParameterError(
                "Backoff",
                "cap",
                None,
                "Backoff.cap is required when factor > 1.0 to bound the delay, "
                "e.g. cap=timedelta(minutes=5).",
            )

    @property
    def base_seconds(self) -> float:
        """``base`` in seconds."""
        return _seconds("Backoff", "base", self.base) or 0.0

    @property
    def cap_seconds(self) -> float | None:
        """``cap`` in seconds; None when uncapped."""
        return _seconds("Backoff", "cap", self.cap, allow_none=True)

    def delay(self, attempt: int, jitter: float = 0.0, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (0 = the first retry).

        ``jitter`` in [0, 1] randomly shortens the delay by up to that fraction, so many failing
        tasks do not retry in lockstep.
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
            raise InvalidParameterError(
                "Backoff.delay", "attempt", attempt, "Retry index n must be >= 0 (0 = first retry)."
            )
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0.0 <= jitter <= 1.0:
            raise InvalidParameterError("Backoff.delay", "jitter", jitter, "Use a fraction from 0.0 to 1.0.")
        cap = self.cap_seconds
        try:
            value = self.base_seconds * (self.factor**attempt)
        except OverflowError:
            value = math.inf
        if cap is not None:
            value = min(value, cap)
        if jitter:
            if rng is None:
                import random as _random

                rng = _random.Random()
            value *= 1.0 - jitter * rng.random()
        return value

    def compute_delay(self, n: int) -> timedelta:
        """Anchor-compatible: the delay before retry ``n`` as a timedelta (no jitter)."""
        return timedelta(seconds=self.delay(n))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for task specs."""
        return {
            "base_seconds": self.base_seconds,
            "factor": float(self.factor),
            "cap_seconds": self.cap_seconds,
        }


def _as_timedelta(value: object, seconds: float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


@dataclass(frozen=True)
class RetryStrategy:
    """How often a failing task is retried (``count``, 0..10) and the optional :class:`Backoff` pacing.

    Without a backoff, retries start immediately.
    """

    count: int
    backoff: Backoff | None = None

    def __post_init__(self) -> None:
        count = self.count
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidParameterTypeError(
                "RetryStrategy", "count", count, f"RetryStrategy.count must be an int. {_COUNT_ACCEPTED}"
            )
        if count < 0:
            raise InvalidParameterError(
                "RetryStrategy",
                "count",
                count,
                f"RetryStrategy.count must be greater than or equal to 0. {_COUNT_ACCEPTED}",
            )
        if count > MAX_RETRIES:
            raise InvalidParameterError("RetryStrategy", "count", count, _COUNT_ACCEPTED)
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise InvalidParameterTypeError(
                "RetryStrategy",
                "backoff",
                self.backoff,
                "Use flyte.Backoff(base=timedelta(seconds=1), factor=2.0, cap=timedelta(minutes=1)) or None.",
            )

    @property
    def attempts(self) -> int:
        """Total tries allowed: the first attempt plus ``count`` retries."""
        return self.count + 1

    def delay(self, attempt: int, jitter: float = 0.0) -> float:
        """Seconds before retry ``attempt`` (0-indexed); 0 without a backoff."""
        return 0.0 if self.backoff is None else self.backoff.delay(attempt, jitter)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for task specs."""
        return {"count": self.count, "backoff": None if self.backoff is None else self.backoff.to_dict()}


def normalize_retries(value: int | RetryStrategy | None, owner: str) -> RetryStrategy:
    """Turn a user's ``retries=`` value (None, an int 0..10, or a RetryStrategy) into a RetryStrategy."""
    if isinstance(value, RetryStrategy):
        return value
    if value is None:
        return RetryStrategy(count=0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise param_error(owner, "retries", value, _COUNT_ACCEPTED, types=int)
    return RetryStrategy(count=value)
