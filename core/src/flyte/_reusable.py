"""Container reuse: keep warm worker replicas so expensive setup (model loading) is paid once.

Validated when built and normalised as the anchor SDK does: ``replicas=2`` is stored as ``(2, 2)`` and
int seconds as timedeltas (``idle_ttl=30`` equals ``timedelta(seconds=30)``). A pool whose maximum is
one replica (and one task per replica) gets a warning: a parent task running on the
only replica cannot get its children scheduled (starvation), so at least two replicas are recommended.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from flyte._validate import param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

__all__ = ["ReusePolicy"]

_REPLICAS_ACCEPTED = (
    "replicas must be an int or a tuple of two ints. "
    "Use an int of at least 1 (a fixed pool, e.g. replicas=2) or a (min, max) tuple of ints with "
    "0 <= min <= max and max >= 1 (an autoscaling pool, e.g. replicas=(2, 5))."
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_DEFAULT_TTL = timedelta(seconds=30)


def _ttl_seconds(param: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidParameterTypeError(
            "ReusePolicy",
            param,
            value,
            f"{param} must be an int (seconds) or a timedelta, e.g. {param}=300, or None (never).",
        )
    if seconds < 0:
        raise InvalidParameterError(
            "ReusePolicy", param, value, f"Use a duration >= 0, e.g. {param}=300 or timedelta(minutes=5)."
        )
    return seconds


@dataclass(frozen=True)
class ReusePolicy:
    """Reuse worker containers across task invocations of an environment.

    - ``replicas``: a fixed count (``2``) or an autoscaling ``(min, max)`` range. At least two are
      recommended so a parent occupying a replica cannot starve its own children.
    - ``idle_ttl``: shut the whole pool down after this long without work (seconds or timedelta).
    - ``concurrency``: tasks run at once per replica; values above 1 need ``async`` tasks.
    - ``scaledown_ttl``: how long an individual idle replica is kept before it is removed.
    - ``scope``: ``"global"`` shares the pool across runs; ``"run"`` gives each run its own.

    Capacity is ``max_replicas * concurrency`` concurrent tasks.
    """

    replicas: int | tuple[int, int] = 2
    idle_ttl: int | timedelta | None = _DEFAULT_TTL
    concurrency: int = 1
    scaledown_ttl: int | timedelta | None = _DEFAULT_TTL
    scope: Literal["global", "run"] = "global"

    def __post_init__(self) -> None:
        replicas: Any = self.replicas
        if isinstance(replicas, list):
            replicas = tuple(replicas)
        if _is_int(replicas) and replicas >= 1:
            replicas = (replicas, replicas)
        if isinstance(replicas, tuple):
            if len(replicas) != 2 or not all(_is_int(v) for v in replicas):
                raise InvalidParameterError("ReusePolicy", "replicas", replicas, _REPLICAS_ACCEPTED)
            low, high = replicas
            if low < 0 or high < 1:
                raise InvalidParameterError("ReusePolicy", "replicas", replicas, _REPLICAS_ACCEPTED)
            if low > high:
                raise InvalidParameterError(
                    "ReusePolicy",
                    "replicas",
                    replicas,
                    f"replicas min ({low}) must be less than or equal to max ({high}); "
                    f"did you mean replicas=({high}, {low})? {_REPLICAS_ACCEPTED}",
                )
        else:
            raise param_error(
                "ReusePolicy", "replicas", replicas, _REPLICAS_ACCEPTED, types=(int, tuple, list)
            )
        object.__setattr__(self, "replicas", replicas)
        if not _is_int(self.concurrency) or self.concurrency < 1:
            raise param_error(
                "ReusePolicy",
                "concurrency",
                self.concurrency,
                "concurrency must be at least 1: tasks run at once per replica (above 1 needs async tasks).",
                types=int,
            )
        for name in ("idle_ttl", "scaledown_ttl"):
            seconds = _ttl_seconds(name, getattr(self, name))
            if seconds is not None and not isinstance(getattr(self, name), timedelta):
                object.__setattr__(self, name, timedelta(seconds=seconds))
        if self.scope not in ("global", "run"):
            raise param_error(
                "ReusePolicy", "scope", self.scope, 'scope must be "global" or "run".', types=str
            )
        if self.max_replicas == 1 and self.concurrency == 1:
            warnings.warn(
                f"ReusePolicy(replicas={replicas!r}) allows only one replica, which can starve: a parent "
                "task running on the only replica cannot get its child tasks scheduled. Use replicas=2 "
                "or replicas=(2, N), or turn reuse off for the parent task (reusable='off').",
                UserWarning,
                stacklevel=3,
            )

    @property
    def min_replicas(self) -> int:
        """The fewest replicas kept running."""
        assert isinstance(self.replicas, tuple)  # normalised in __post_init__
        return self.replicas[0]

    @property
    def max_replicas(self) -> int:
        """The most replicas the pool scales to."""
        assert isinstance(self.replicas, tuple)
        return self.replicas[1]

    @property
    def idle_ttl_seconds(self) -> float | None:
        """``idle_ttl`` in seconds; None when set to None (the pool is kept while the run lasts)."""
        return _ttl_seconds("idle_ttl", self.idle_ttl)

    @property
    def scaledown_ttl_seconds(self) -> float | None:
        """``scaledown_ttl`` in seconds; None when unset."""
        return _ttl_seconds("scaledown_ttl", self.scaledown_ttl)

    def get_scaledown_ttl(self) -> timedelta | None:
        """Anchor-compatible: ``scaledown_ttl`` as a timedelta, or None."""
        seconds = self.scaledown_ttl_seconds
        return None if seconds is None else timedelta(seconds=seconds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for task specs."""
        return {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "concurrency": self.concurrency,
            "idle_ttl_seconds": self.idle_ttl_seconds,
            "scaledown_ttl_seconds": self.scaledown_ttl_seconds,
            "scope": self.scope,
        }
