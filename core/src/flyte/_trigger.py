"""Triggers: named launch configurations of a task, optionally fired by a schedule or an artifact.

Definitions are validated when they are written (a bad cron expression fails at import, naming the
field). They are recorded in the task's spec (``flyte serialize``); ``flyte triggers serve FILE``
fires the Cron and FixedRate ones durably (``flyte._triggers.scheduler``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flyte._validate import check_bool, check_notifications, check_str, check_str_map, param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError


class _TriggerTimeMarker:
    """Sentinel: bind the time a scheduled trigger fired to a task input (``inputs={"t": TriggerTime}``)."""

    def __repr__(self) -> str:
        return "flyte.TriggerTime"


class _TriggeredArtifactMarker:
    """Sentinel: bind the artifact version that fired an ``OnArtifact`` trigger to a task input."""

    def __repr__(self) -> str:
        return "flyte.TriggeredArtifact"


TriggerTime = _TriggerTimeMarker()
TriggeredArtifact = _TriggeredArtifactMarker()


@dataclass(frozen=True)
class TriggeredPartition:
    """Bind one partition value of the triggering artifact version to a task input."""

    key: str

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise param_error(
                "TriggeredPartition",
                "key",
                self.key,
                "Name the partition, e.g. TriggeredPartition('date').",
                types=str,
            )

    def to_dict(self) -> dict[str, Any]:
        return {"triggered_partition": self.key}


# ---- cron validation -----------------------------------------------------------------------------
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (field name, low, high, names mapped to low + index)
_FIELDS: list[tuple[str, int, int, list[str]]] = [
    ("minute", 0, 59, []),
    ("hour", 0, 23, []),
    ("day-of-month", 1, 31, []),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
]
_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_ITEM_RE = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")


def _cron_value(token: str, fname: str, low: int, high: int, names: list[str]) -> int:
    if token.isdigit():
        value = int(token)
    elif token in names:
        value = names.index(token) + (low if fname == "month" else 0)
    else:
        raise ValueError(
            f"{fname} field: {token!r} is not a number" + (f" or one of {names}" if names else "")
        )
    if not low <= value <= high:
        raise ValueError(f"{fname} field: {value} is outside {low}-{high}")
    return value


def validate_cron(expression: str) -> None:
    """Raise ValueError naming the bad field of a five-field cron expression (or a macro)."""
    text = expression.strip().lower()
    if text in _MACROS:
        return
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    for part, (fname, low, high, names) in zip(parts, _FIELDS, strict=True):
        for item in part.split(","):
            m = _ITEM_RE.match(item)
            if not m:
                raise ValueError(
                    f"{fname} field: {item!r} is not '*', a value, a range a-b, or one with /step"
                )
            body, step = m.group(1), m.group(2)
            if step is not None and int(step) == 0:
                raise ValueError(f"{fname} field: step 0 in {item!r}")
            if body == "*":
                continue
            bounds = [_cron_value(t, fname, low, high, names) for t in body.split("-")]
            if len(bounds) == 2 and bounds[0] > bounds[1]:
                raise ValueError(f"{fname} field: range {body!r} runs backwards")


def _check_timezone(owner: str, tz: Any) -> None:
    if not isinstance(tz, str) or not tz:
        raise InvalidParameterTypeError(owner, "timezone", tz, "Use an IANA timezone name, e.g. 'UTC'.")
    import zoneinfo

    known = zoneinfo.available_timezones()
    if known and tz not in known and tz != "UTC":
        raise InvalidParameterError(
            owner, "timezone", tz, "Use an IANA timezone name such as 'UTC', 'US/Eastern' or 'Europe/London'."
        )


@dataclass(frozen=True)
class Cron:
    """Fire a trigger at the clock times of a five-field cron expression, in ``timezone``."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        owner = f"Cron({self.expression!r})"
        if not isinstance(self.expression, str):
            raise InvalidParameterTypeError(
                owner, "expression", self.expression, "Use a string like '0 * * * *'."
            )
        try:
            validate_cron(self.expression)
        except ValueError as e:
            raise InvalidParameterError(
                owner, "expression", self.expression, f"{e}. Example: '*/5 * * * *' (every 5 minutes)."
            ) from None
        _check_timezone(owner, self.timezone)

    @property
    def timezone_expression(self) -> str:
        return f"CRON_TZ={self.timezone} {self.expression}"

    def __str__(self) -> str:
        return f"Cron Trigger: {self.timezone_expression}"

    def to_dict(self) -> dict[str, Any]:
        return {"cron": {"expression": self.expression, "timezone": self.timezone}}


@dataclass(frozen=True)
class FixedRate:
    """Fire a trigger every ``interval_minutes``, counted from ``start_time`` (or activation)."""

    interval_minutes: int
    start_time: datetime | None = None

    def __post_init__(self) -> None:
        owner = f"FixedRate({self.interval_minutes!r})"
        iv = self.interval_minutes
        if isinstance(iv, bool) or not isinstance(iv, int) or iv < 1:
            raise param_error(owner, "interval_minutes", iv, "Use a whole number of minutes >= 1.", types=int)
        if self.start_time is not None and not isinstance(self.start_time, datetime):
            raise InvalidParameterTypeError(owner, "start_time", self.start_time, "Use a datetime or None.")

    def __str__(self) -> str:
        return f"FixedRate Trigger: every {self.interval_minutes} minutes"

    def to_dict(self) -> dict[str, Any]:
        start = None if self.start_time is None else self.start_time.isoformat()
        return {"fixed_rate": {"interval_minutes": self.interval_minutes, "start_time": start}}


@dataclass(frozen=True, init=False)
class OnArtifact:
    """Fire a trigger when a new version of the named artifact (optionally with partitions) appears."""

    name: str
    version: str | None = None
    partitions: Mapping[str, str] | None = None

    def __init__(
        self,
        name: str,
        version: str | None = None,
        partitions: Mapping[str, str] | None = None,
        **partition_kwargs: str,
    ) -> None:
        owner = f"OnArtifact({name!r})"
        if not isinstance(name, str) or not name:
            raise param_error(owner, "name", name, "Name the artifact to watch.", types=str)
        check_str(owner, "version", version, optional=True, nonempty=True)
        check_str_map(owner, "partitions", partitions)
        merged = {**(partitions or {}), **partition_kwargs}
        for key, value in merged.items():
            if not isinstance(value, str):
                raise InvalidParameterError(
                    owner, f"partitions[{key!r}]", value, "Partition values are strings."
                )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "partitions", merged or None)

    def __str__(self) -> str:
        ver = f"@{self.version}" if self.version else ""
        parts = "".join(f" {k}={v}" for k, v in (self.partitions or {}).items())
        return f"Artifact Trigger: {self.name}{ver}{parts}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "on_artifact": {
                "name": self.name,
                "version": self.version,
                "partitions": dict(self.partitions or {}),
            }
        }


def _input_value(v: Any) -> Any:
    if v is TriggerTime:
        return {"trigger_time": True}
    if v is TriggeredArtifact:
        return {"triggered_artifact": True}
    if isinstance(v, TriggeredPartition):
        return v.to_dict()
    return v


@dataclass(frozen=True)
class Trigger:
    """A named launch configuration of a task (inputs, env vars, queue...) with an optional automation.

    Attach it with ``@env.task(triggers=...)``. Without ``automation`` it is fired on demand only.
    """

    name: str
    automation: Cron | FixedRate | OnArtifact | None = None
    description: str = ""
    auto_activate: bool = True
    inputs: dict[str, Any] | None = None
    env_vars: dict[str, str] | None = None
    interruptible: bool | None = None
    overwrite_cache: bool = False
    queue: str | None = None
    max_action_concurrency: int | None = None
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None
    notifications: Any = None
    custom_context: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        owner = f"Trigger({self.name!r})"
        if not isinstance(self.name, str) or not self.name:
            raise param_error("Trigger", "name", self.name, "Give the trigger a non-empty name.", types=str)
        if self.automation is not None and not isinstance(self.automation, (Cron, FixedRate, OnArtifact)):
            raise InvalidParameterTypeError(
                owner,
                "automation",
                self.automation,
                "Use flyte.Cron(...), flyte.FixedRate(...), flyte.OnArtifact(...) or None.",
            )
        check_str(owner, "description", self.description)
        check_bool(owner, "auto_activate", self.auto_activate)
        check_bool(owner, "interruptible", self.interruptible, optional=True)
        check_bool(owner, "overwrite_cache", self.overwrite_cache)
        check_str(owner, "queue", self.queue, optional=True, nonempty=True)
        if self.inputs is not None and not isinstance(self.inputs, Mapping):
            raise InvalidParameterTypeError(
                owner, "inputs", self.inputs, "Pass a dict of the task's input names to values."
            )
        for param in ("env_vars", "labels", "annotations", "custom_context"):
            check_str_map(owner, param, getattr(self, param))
        check_notifications(owner, self.notifications)
        if len(self.description) > 255:
            raise InvalidParameterError(
                owner, "description", self.description[:40] + "...", "Keep it to 255 characters."
            )
        mac = self.max_action_concurrency
        if mac is not None and (isinstance(mac, bool) or not isinstance(mac, int) or mac == 1 or mac < 0):
            raise param_error(
                owner,
                "max_action_concurrency",
                mac,
                "Use 0 (platform default) or >= 2: with 1 the parent holds the only slot and its "
                "children wait forever.",
                types=int,
            )
        inputs = self.inputs or {}
        schedule = isinstance(self.automation, (Cron, FixedRate))
        artifact = isinstance(self.automation, OnArtifact)
        bound_artifact = [k for k, v in inputs.items() if v is TriggeredArtifact]
        for key, value in inputs.items():
            if value is TriggerTime and not schedule:
                raise InvalidParameterError(
                    owner, f"inputs[{key!r}]", value, "TriggerTime needs a Cron or FixedRate automation."
                )
            if (value is TriggeredArtifact or isinstance(value, TriggeredPartition)) and not artifact:
                raise InvalidParameterError(
                    owner,
                    f"inputs[{key!r}]",
                    value,
                    "TriggeredArtifact/TriggeredPartition need an OnArtifact automation.",
                )
        if len(bound_artifact) > 1:
            raise InvalidParameterError(
                owner, "inputs", sorted(bound_artifact), "Bind TriggeredArtifact to at most one input."
            )
        if self.notifications is not None:
            from flyte.notify import normalize_notifications

            object.__setattr__(
                self, "notifications", normalize_notifications(self.notifications, owner) or None
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description recorded in the task spec."""
        return {
            "name": self.name,
            "automation": None if self.automation is None else self.automation.to_dict(),
            "description": self.description,
            "auto_activate": self.auto_activate,
            "inputs": {k: _input_value(v) for k, v in (self.inputs or {}).items()},
            "env_vars": dict(self.env_vars or {}),
            "interruptible": self.interruptible,
            "overwrite_cache": self.overwrite_cache,
            "queue": self.queue,
            "max_action_concurrency": self.max_action_concurrency,
            "labels": dict(self.labels or {}),
            "annotations": dict(self.annotations or {}),
            "custom_context": dict(self.custom_context or {}),
            "notifications": [n.to_dict() for n in self.notifications or ()],
        }

    # ---- shortcuts with a fixed cron -------------------------------------------------------------
    @classmethod
    def _every(cls, cron: str, default_name: str, trigger_time_input_key: str | None, **kw: Any) -> Trigger:
        inputs = dict(kw.pop("inputs", None) or {})
        if trigger_time_input_key is not None:
            inputs[trigger_time_input_key] = TriggerTime
        name = kw.pop("name", None) or default_name
        return cls(name=name, automation=Cron(cron), inputs=inputs or None, **kw)

    @classmethod
    def minutely(
        cls, trigger_time_input_key: str | None = None, *, name: str = "minutely", **kw: Any
    ) -> Trigger:
        kw.setdefault("description", "A trigger that runs every minute")
        return cls._every("* * * * *", name, trigger_time_input_key, **kw)

    @classmethod
    def hourly(cls, trigger_time_input_key: str | None = None, *, name: str = "hourly", **kw: Any) -> Trigger:
        kw.setdefault("description", "A trigger that runs every hour")
        return cls._every("0 * * * *", name, trigger_time_input_key, **kw)

    @classmethod
    def daily(cls, trigger_time_input_key: str | None = None, *, name: str = "daily", **kw: Any) -> Trigger:
        kw.setdefault("description", "A trigger that runs daily at midnight")
        return cls._every("0 0 * * *", name, trigger_time_input_key, **kw)

    @classmethod
    def weekly(cls, trigger_time_input_key: str | None = None, *, name: str = "weekly", **kw: Any) -> Trigger:
        kw.setdefault("description", "A trigger that runs weekly on Sundays at midnight")
        return cls._every("0 0 * * 0", name, trigger_time_input_key, **kw)

    @classmethod
    def monthly(
        cls, trigger_time_input_key: str | None = None, *, name: str = "monthly", **kw: Any
    ) -> Trigger:
        kw.setdefault("description", "A trigger that runs monthly on the 1st at midnight")
        return cls._every("0 0 1 * *", name, trigger_time_input_key, **kw)


def normalize_triggers(value: Any, owner: str, params: set[str] | None = None) -> tuple[Trigger, ...]:
    """``triggers=`` of ``@env.task``: one Trigger or a sequence of them, names unique per task, and
    their ``inputs`` naming parameters of the task (``params``)."""
    if value is not None and not isinstance(value, (Trigger, list, tuple)):
        raise InvalidParameterTypeError(owner, "triggers", value, "Use flyte.Trigger(...) or a list of them.")
    items = (value,) if isinstance(value, Trigger) else tuple(value or ())
    seen: set[str] = set()
    for t in items:
        if not isinstance(t, Trigger):
            raise InvalidParameterTypeError(owner, "triggers", t, "Use flyte.Trigger(...) or a list of them.")
        if t.name in seen:
            raise InvalidParameterError(owner, "triggers", t.name, "Trigger names must be unique per task.")
        seen.add(t.name)
        unknown = sorted(set(t.inputs or {}) - params) if params is not None else []
        if unknown:
            raise InvalidParameterError(
                owner,
                f"triggers[{t.name!r}].inputs",
                unknown,
                f"The task's inputs are {sorted(params or ())}.",
            )
    return items
