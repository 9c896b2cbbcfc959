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
    name = f"{func.__module__}.{func.__qualname__}"

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
            hit, items = r.replayed(ac, aid)
            if hit:
                for item in items:
                    yield item
                return
            started, collected = time.time(), []
            token = current_action.set(dataclasses.replace(ac, in_trace=True))
            try:
                gen = func(*args, **kwargs)
                while True:
                    try:
                        item = await gen.__anext__()
                    except StopAsyncIteration:
                        break
                    collected.append(item)
                    current_action.reset(token)
                    yield item
                    token = current_action.set(dataclasses.replace(ac, in_trace=True))
            except Exception as e:
                await r.record(ac, aid, pos, "trace", name, enc, None, started, e)
                raise
            finally:
                current_action.reset(token)
            await r.record(ac, aid, pos, "trace", name, enc, collected, started)

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
            hit, items = r.replayed(ac, aid)
            if hit:
                yield from items
                return
            started = time.time()
            items = list(_in_trace(ac, lambda: list(func(*args, **kwargs))))
            _record_sync(ac, r, aid, pos, name, enc, items, started)
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
            hit, value = r.replayed(ac, aid)
            if hit:
                return value
            started = time.time()
            token = current_action.set(dataclasses.replace(ac, in_trace=True))
            try:
                value = await func(*args, **kwargs)
            except Exception as e:
                current_action.reset(token)
                await r.record(ac, aid, pos, "trace", name, enc, None, started, e)
                raise
            current_action.reset(token)
            await r.record(ac, aid, pos, "trace", name, enc, value, started)
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
        hit, value = r.replayed(ac, aid)
        if hit:
            return value
        started = time.time()
        try:
            value = _in_trace(ac, lambda: func(*args, **kwargs))
        except Exception as e:
            _record_sync(ac, r, aid, pos, name, enc, None, started, e)
            raise
        _record_sync(ac, r, aid, pos, name, enc, value, started)
        return value

    return sync_wrapper  # type: ignore[return-value]


def _in_trace(ac: Any, fn: Callable[[], Any]) -> Any:
    token = current_action.set(dataclasses.replace(ac, in_trace=True))
    try:
        return fn()
    finally:
        current_action.reset(token)


def _record_sync(ac: Any, r: Any, aid: str, pos: int, name: str, enc: bytes, value: Any, started: float,
                 error: BaseException | None = None) -> None:
    """Record from sync code: on the loop thread directly, from a worker thread via the loop."""
    import asyncio

    coro = r.record(ac, aid, pos, "trace", name, enc, value, started, error)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run_coroutine_threadsafe(coro, ac.controller.loop).result()
        return
    # Sync trace called on the event loop thread: commit now, synchronously.
    coro.close()
    c = ac.controller
    from flyte._runtime.codec import ValueCodec, encode_value
    from flyte._runtime.controller import FAILED, SUCCEEDED
    from flyte._runtime.errors_bridge import error_record
    from flyte._runtime.journal import UPSERT_ACTION

    outputs = None if error is not None else c._store(aid, "outputs", encode_value(ValueCodec(Any), value))
    c.journal.write(UPSERT_ACTION, (
        c.run_name, aid, ac.action.action_id, pos, "trace", name, "trace:" + name, "trace",
        SUCCEEDED if error is None else FAILED, 1, 0, started, time.time(), enc, outputs,
        None if error is None else error_record(error), ac.group, "inline", None,
    ))
    c.journal.flush()
