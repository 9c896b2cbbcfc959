"""Conditions: a task pauses until someone outside signals a value (an approval, a number, a text).

Locally a condition created inside a task is an object pair in the run's store:
``<run>/conditions/<name>.json`` (what is asked) and ``<run>/conditions/<name>.signal`` (the answer,
JSON). :func:`signal_condition` writes the answer; ``wait()`` polls for it. Because the answer is
stored, a retried or recovered attempt that waits again gets the same value at once. Webhooks are
recorded in the description but not called (there is no backend to call them).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, Literal, TypeVar

from flyte._validate import check_number, check_str, param_error
from flyte.errors import ConditionTimedoutError, InvalidParameterError, InvalidParameterTypeError

ConditionType = TypeVar("ConditionType", bool, int, float, str)
_TYPES: tuple[type, ...] = (bool, int, float, str)
_POLL_S = 0.05


@dataclass
class ConditionWebhook:
    """A URL the platform POSTs to when the condition is created; ``{callback_uri}`` in the payload is
    replaced by the URI that signals it. Recorded locally, not called."""

    url: str
    payload: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_str("ConditionWebhook", "url", self.url, fix="Use an http(s):// URL.")
        if not self.url.startswith(("http://", "https://")):
            raise InvalidParameterError("ConditionWebhook", "url", self.url, "Use an http(s):// URL.")
        if self.payload is not None and not isinstance(self.payload, Mapping):
            raise InvalidParameterTypeError(
                "ConditionWebhook", "payload", self.payload, "Pass a JSON-able dict or None."
            )


class _SyncAio:
    """A method callable as ``obj.m()`` (blocking) and ``await obj.m.aio()``."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def __get__(self, obj: Any, owner: Any) -> Any:
        bound = self.func.__get__(obj, owner)

        def call(*a: Any, **k: Any) -> Any:
            return bound(*a, **k)

        async def aio(*a: Any, **k: Any) -> Any:
            return await asyncio.to_thread(bound, *a, **k)

        call.aio = aio  # type: ignore[attr-defined]
        return call


def _to_type(data_type: type, value: Any, name: str) -> Any:
    if data_type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise InvalidParameterError(f"condition {name!r}", "value", value, "Signal true or false.")
    try:
        return data_type(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"condition {name!r}", "value", value, f"Signal a {data_type.__name__}."
        ) from None


@dataclass
class _Condition(Generic[ConditionType]):
    """A pending question inside a run; ``wait()`` returns the signalled value as ``data_type``."""

    name: str
    prompt: str = "Approve?"
    prompt_type: Literal["text", "markdown"] = "text"
    data_type: type = bool
    description: str = ""
    timeout: timedelta | int | float | None = None
    webhook: ConditionWebhook | None = None
    signal_uri: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        owner = f"new_condition({self.name!r})"
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise param_error(owner, "name", self.name, "Use a non-empty name without '/'.", types=str)
        if self.data_type not in _TYPES:
            raise param_error(
                owner, "data_type", self.data_type, "Use bool, int, float or str.", wrong_type=True
            )
        if self.prompt_type not in ("text", "markdown"):
            raise param_error(owner, "prompt_type", self.prompt_type, "Use 'text' or 'markdown'.", types=str)
        check_str(owner, "prompt", self.prompt)
        check_str(owner, "description", self.description)
        if self.webhook is not None and not isinstance(self.webhook, ConditionWebhook):
            raise InvalidParameterTypeError(
                owner, "webhook", self.webhook, "Pass flyte.ConditionWebhook(url=...) or None."
            )
        if self.timeout is not None and not isinstance(self.timeout, timedelta):
            check_number(owner, "timeout", self.timeout)
        seconds = None
        if self.timeout is not None:
            seconds = (
                self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else float(self.timeout)
            )
            if seconds <= 0:
                raise InvalidParameterError(
                    owner, "timeout", self.timeout, "Use a positive duration or None."
                )
        self._timeout_s = seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prompt": self.prompt,
            "prompt_type": self.prompt_type,
            "data_type": self.data_type.__name__,
            "description": self.description,
            "timeout_s": self._timeout_s,
            "webhook": None
            if self.webhook is None
            else {"url": self.webhook.url, "payload": self.webhook.payload},
        }

    def _wait(self) -> Any:
        if self.signal_uri is None:
            raise RuntimeError("Conditions can only be waited on inside a task of a run.")
        from flyte._runtime.store import store_for

        store = store_for(self.signal_uri)
        deadline = None if self._timeout_s is None else time.monotonic() + self._timeout_s
        while not store.exists(self.signal_uri):
            if deadline is not None and time.monotonic() >= deadline:
                raise ConditionTimedoutError(
                    f"Condition {self.name!r} was not signalled within {self._timeout_s:g}s"
                )
            time.sleep(_POLL_S)
        return _to_type(self.data_type, json.loads(store.get_bytes(self.signal_uri)), self.name)

    wait = _SyncAio(_wait)


def _uris(run_prefix: str, name: str) -> tuple[str, str]:
    from flyte._runtime.store import join

    return join(run_prefix, "conditions", f"{name}.json"), join(run_prefix, "conditions", f"{name}.signal")


def new_condition(
    name: str,
    /,
    prompt: str = "Approve?",
    prompt_type: Literal["text", "markdown"] = "text",
    data_type: type = bool,
    description: str = "",
    timeout: timedelta | int | float | None = None,
    webhook: ConditionWebhook | None = None,
) -> _Condition[Any]:
    """Create a condition; inside a task it is recorded in the run's store so it can be signalled."""
    cond: _Condition[Any] = _Condition(name, prompt, prompt_type, data_type, description, timeout, webhook)
    from flyte._context import current_action

    ac = current_action.get()
    if ac is not None:
        from flyte._runtime.store import store_for

        spec_uri, cond.signal_uri = _uris(ac.controller.run_prefix, name)
        store_for(spec_uri).put_bytes(spec_uri, json.dumps(cond.to_dict()).encode())
    return cond


async def _new_condition_aio(*args: Any, **kwargs: Any) -> _Condition[Any]:
    return await asyncio.to_thread(new_condition, *args, **kwargs)


new_condition.aio = _new_condition_aio  # type: ignore[attr-defined]


def signal_condition(target: _Condition[Any] | str, value: Any) -> None:
    """Answer a condition: ``target`` is the condition (or its ``signal_uri``); ``value`` is JSON-able."""
    uri = target.signal_uri if isinstance(target, _Condition) else target
    if not uri:
        raise InvalidParameterError(
            "signal_condition", "target", target, "Use a condition created inside a task."
        )
    from flyte._runtime.store import store_for

    store_for(uri).put_bytes(uri, json.dumps(value).encode())
