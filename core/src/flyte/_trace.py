"""``flyte.trace``: record a plain function's result inside a task so a recovered run replays it.

Works on sync and async functions and generators. Calling a task inside a trace raises
``TraceDoesNotAllowNestedTasksError``. Outside a run the function is called as is.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from flyte._context import current_action

F = TypeVar("F", bound=Callable[..., Any])


def trace(func: F) -> F:
    """Decorate a function whose result should be recorded and replayed on recovery."""
    if not callable(func) or not hasattr(func, "__qualname__"):
        from flyte.errors import InvalidParameterTypeError

        raise InvalidParameterTypeError("flyte.trace", "func", func, "Decorate a function: @flyte.trace.")
    name = f"{func.__module__}.{func.__qualname__}"
    idents: list[str] = []

    def ident() -> str:  # computed on first use (reading the source is not free)
        if not idents:
            from flyte._recorded import code_identity

            idents.append(code_identity("trace", name, func))
        return idents[0]

    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            ac = current_action.get()
            if ac is None:
                async for item in func(*args, **kwargs):
                    yield item
                return
            from flyte import _recorded as r

            enc, h = r.hash_args(args, kwargs)
            aid, pos = r.step_id(ac, "trace", name, h)
            hit, items = r.replayed(ac, aid, ident())
            if hit:
                for item in items:
                    yield item
                return
            started, collected = time.time(), []
            inside = dataclasses.replace(ac, in_trace=True)
            gen = func(*args, **kwargs)
            try:
                while True:
                    token = current_action.set(inside)  # only while the traced body runs
                    try:
                        item = await gen.__anext__()
                    except StopAsyncIteration:
                        break
                    finally:
                        current_action.reset(token)
                    collected.append(item)
                    yield item
            except Exception as e:
                await r.record(ac, aid, pos, "trace", name, enc, None, started, e, identity=ident())
                raise
            finally:  # also when the caller stops early: close the traced generator (nothing recorded)
                await gen.aclose()
            await r.record(ac, aid, pos, "trace", name, enc, collected, started, identity=ident())

        return agen_wrapper  # type: ignore[return-value]

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            ac = current_action.get()
            if ac is None:
                yield from func(*args, **kwargs)
                return
            from flyte import _recorded as r

            enc, h = r.hash_args(args, kwargs)
            aid, pos = r.step_id(ac, "trace", name, h)
            hit, items = r.replayed(ac, aid, ident())
            if hit:
                yield from items
                return
            started = time.time()
            items = list(_in_trace(ac, lambda: list(func(*args, **kwargs))))
            _record_sync(ac, r, aid, pos, name, enc, items, started, None, ident())
            yield from items

        return gen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            ac = current_action.get()
            if ac is None:
                return await func(*args, **kwargs)
            from flyte import _recorded as r

            enc, h = r.hash_args(args, kwargs)
            aid, pos = r.step_id(ac, "trace", name, h)
            hit, value = r.replayed(ac, aid, ident())
            if hit:
                return value
            started = time.time()
            token = current_action.set(dataclasses.replace(ac, in_trace=True))
            try:
                value = await func(*args, **kwargs)
            except Exception as e:
                current_action.reset(token)
                await r.record(ac, aid, pos, "trace", name, enc, None, started, e, identity=ident())
                raise
            current_action.reset(token)
            await r.record(ac, aid, pos, "trace", name, enc, value, started, identity=ident())
            return value

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        ac = current_action.get()
        if ac is None:
            return func(*args, **kwargs)
        from flyte import _recorded as r

        enc, h = r.hash_args(args, kwargs)
        aid, pos = r.step_id(ac, "trace", name, h)
        hit, value = r.replayed(ac, aid, ident())
        if hit:
            return value
        started = time.time()
        try:
            value = _in_trace(ac, lambda: func(*args, **kwargs))
        except Exception as e:
            _record_sync(ac, r, aid, pos, name, enc, None, started, e, ident())
            raise
        _record_sync(ac, r, aid, pos, name, enc, value, started, None, ident())
        return value

    return sync_wrapper  # type: ignore[return-value]


def _in_trace(ac: Any, fn: Callable[[], Any]) -> Any:
    token = current_action.set(dataclasses.replace(ac, in_trace=True))
    try:
        return fn()
    finally:
        current_action.reset(token)


def _record_sync(
    ac: Any,
    r: Any,
    aid: str,
    pos: int,
    name: str,
    enc: bytes,
    value: Any,
    started: float,
    error: BaseException | None = None,
    identity: str | None = None,
) -> None:
    """Record from sync code: on the run's loop thread directly, from any other thread via that loop."""
    import asyncio

    c = ac.controller
    try:
        on_loop = asyncio.get_running_loop() is c.loop
    except RuntimeError:
        on_loop = False
    if not on_loop:
        coro = r.record(ac, aid, pos, "trace", name, enc, value, started, error, identity)
        asyncio.run_coroutine_threadsafe(coro, c.loop).result()
        return
    # A sync trace called on the loop thread itself cannot await: queue the row and commit now.
    c.journal.action_ended(r.row_params(ac, aid, pos, "trace", name, enc, value, started, error, identity))
    c.journal.flush()
