"""A do-nothing stand-in for `flyte`, used only by the benchmark's plain-asyncio floor.

`bench/run.py` puts `bench/_floor` first on PYTHONPATH for the "asyncio" engine, so the unchanged
workload code in `bench/workloads.py` (`import flyte`, `@env.task`, `flyte.run(...)`) runs as bare
coroutines: `@env.task` returns the function itself and `flyte.run` is `asyncio.run`. Whatever the
real SDKs cost above this is their overhead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, overload

__version__ = "0+asyncio-floor"

F = TypeVar("F", bound=Callable[..., Any])


class TaskEnvironment:
    def __init__(self, name: str, **options: Any) -> None:
        self.name = name
        self.options = options

    @overload
    def task(self, fn: F, /) -> F: ...

    @overload
    def task(self, fn: None = None, /, **options: Any) -> Callable[[F], F]: ...

    def task(self, fn: F | None = None, /, **options: Any) -> F | Callable[[F], F]:
        if fn is None:
            return lambda f: f
        return fn


class Run:
    def __init__(self, value: Any) -> None:
        self.name = "asyncio"
        self._value = value

    def outputs(self) -> Any:
        return self._value


def init(*args: Any, **kwargs: Any) -> None:
    return None


def run(task: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kwargs: Any) -> Run:
    return Run(asyncio.run(task(*args, **kwargs)))


class _Runner:
    def run(self, task: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kwargs: Any) -> Run:
        return run(task, *args, **kwargs)


def with_runcontext(*args: Any, **kwargs: Any) -> _Runner:
    return _Runner()
