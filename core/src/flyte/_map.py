"""``flyte.map``: call a task over iterables concurrently (up to ``concurrency`` at once)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from flyte._context import current_action
from flyte._group import group


class _Map:
    def __call__(
        self,
        func: Any,
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
    ) -> Iterator[Any]:
        """Results in input order; from sync code (a sync parent task or outside a run)."""
        _check_args("flyte.map", func, iterables, group_name, concurrency, return_exceptions)
        return self._iter(func, iterables, group_name, concurrency, return_exceptions)

    def _iter(
        self,
        func: Any,
        iterables: tuple[Iterable[Any], ...],
        group_name: str | None,
        concurrency: int,
        return_exceptions: bool,
    ) -> Iterator[Any]:
        ac = current_action.get()
        if ac is None or ac.controller.loop is None:
            for args in zip(*iterables):
                try:
                    yield func(*args) if not _is_async(func) else asyncio.run(func(*args))
                except Exception as e:
                    if not return_exceptions:
                        raise
                    yield e
            return
        loop = ac.controller.loop
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # blocking here would stop the very loop the children need
            from flyte.errors import SyncTaskCallInAsyncContextError

            raise SyncTaskCallInAsyncContextError(
                "flyte.map(...) was called from async code; there use "
                "'async for x in flyte.map.aio(...)' (flyte.map is for sync tasks and plain code)."
            )
        collect = _collect(func, iterables, group_name, concurrency, return_exceptions, ac)
        fut = asyncio.run_coroutine_threadsafe(collect, loop)
        from flyte._runtime.controller import pool_blocked

        with pool_blocked(ac.controller.sync_pool):
            results = fut.result()
        yield from results

    def aio(
        self,
        func: Any,
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        """Async generator of results in input order (arguments are checked when called)."""
        _check_args("flyte.map.aio", func, iterables, group_name, concurrency, return_exceptions)
        return self._aiter(func, iterables, group_name, concurrency, return_exceptions)

    async def _aiter(
        self,
        func: Any,
        iterables: tuple[Iterable[Any], ...],
        group_name: str | None,
        concurrency: int,
        return_exceptions: bool,
    ) -> AsyncIterator[Any]:
        for r in await _collect(func, iterables, group_name, concurrency, return_exceptions):
            yield r


def _check_args(
    owner: str,
    func: Any,
    iterables: tuple[Any, ...],
    group_name: Any,
    concurrency: Any,
    return_exceptions: Any,
) -> None:
    """Bad arguments fail when ``flyte.map`` is called, not on the first ``next()``."""
    from flyte._validate import check_bool, check_number, check_str
    from flyte.errors import InvalidParameterTypeError

    if not callable(func):
        raise InvalidParameterTypeError(owner, "func", func, "Pass a task (or a function) to call.")
    for it in iterables:
        if not isinstance(it, Iterable):
            raise InvalidParameterTypeError(
                owner, "iterables", it, "Pass lists (or other iterables) of the task's inputs."
            )
    check_str(owner, "group_name", group_name, optional=True, nonempty=True)
    check_number(owner, "concurrency", concurrency, integer=True, minimum=0)
    check_bool(owner, "return_exceptions", return_exceptions)


def _is_async(func: Any) -> bool:
    if isinstance(func, functools.partial):
        func = func.func
    return not getattr(func, "is_sync", True)


def _caller(func: Any) -> Any:
    """An awaitable-returning callable for ``func``: a task's ``.aio`` (also through a partial)."""
    if isinstance(func, functools.partial) and hasattr(func.func, "aio"):
        return functools.partial(func.func.aio, *func.args, **func.keywords)
    return func.aio if hasattr(func, "aio") else func


def _name(func: Any) -> str:
    if isinstance(func, functools.partial):
        func = func.func
    return str(
        getattr(func, "short_name", None) or getattr(func, "name", None) or getattr(func, "__name__", "fn")
    )


async def _collect(
    func: Any,
    iterables: tuple[Iterable[Any], ...],
    group_name: str | None,
    concurrency: int,
    return_exceptions: bool,
    ac: Any = None,
) -> list[Any]:
    if ac is not None:  # called from a sync parent's thread: adopt its action context on the loop
        current_action.set(ac)
    name = group_name or f"map_{_name(func)}"
    items = list(zip(*iterables))
    call = _caller(func)
    with group(name):
        if not concurrency or concurrency <= 0 or concurrency >= len(items):
            return list(await asyncio.gather(*(call(*a) for a in items), return_exceptions=return_exceptions))
        # ``concurrency`` workers take the items in order: calls start in input order (stable
        # positions on replay) and only ``concurrency`` tasks exist however long the input is.
        results: list[Any] = [None] * len(items)
        pending = iter(enumerate(items))

        async def worker() -> None:
            for i, args in pending:
                try:
                    results[i] = await call(*args)
                except Exception as e:
                    if not return_exceptions:
                        raise
                    results[i] = e

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return results


map = _Map()
