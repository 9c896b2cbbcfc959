"""``flyte.map``: call a task over iterables concurrently (up to ``concurrency`` at once)."""

from __future__ import annotations

import asyncio
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
        collect = _collect(func, iterables, group_name, concurrency, return_exceptions, ac)
        fut = asyncio.run_coroutine_threadsafe(collect, ac.controller.loop)
        yield from fut.result()

    async def aio(
        self,
        func: Any,
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        """Async generator of results in input order."""
        for r in await _collect(func, iterables, group_name, concurrency, return_exceptions):
            yield r


def _is_async(func: Any) -> bool:
    return not getattr(func, "is_sync", True)


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
    name = group_name or f"map_{getattr(func, 'short_name', None) or getattr(func, 'name', 'fn')}"
    items = list(zip(*iterables))
    call = func.aio if hasattr(func, "aio") else func
    with group(name):
        if concurrency and concurrency > 0:
            sem = asyncio.Semaphore(concurrency)

            async def bounded(args: tuple[Any, ...]) -> Any:
                async with sem:
                    return await call(*args)

            coros = [bounded(a) for a in items]
        else:
            coros = [call(*a) for a in items]
        return list(await asyncio.gather(*coros, return_exceptions=return_exceptions))


map = _Map()
