"""``journal._GroupFuture``: the future a group commit's waiters share. Its waiters are woken by one
loop callback, in the order they came, each in its own context; a failing callback is reported to
the loop's exception handler and the others still run; ``cancel`` is refused."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from flyte._runtime.journal import _GroupFuture

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("group_future_test", default="-")


def test_waiters_run_in_order_in_their_contexts_and_a_failure_does_not_stop_the_rest() -> None:
    async def main() -> tuple[list[Any], list[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        fut = _GroupFuture(loop=loop)
        seen: list[Any] = []

        def cb(tag: str) -> Any:
            def run(f: asyncio.Future[Any]) -> None:
                assert f is fut
                seen.append((tag, VAR.get()))
                if tag == "b":
                    raise ValueError("b fails")

            return run

        for tag in ("a", "b", "c", "d"):
            ctx = contextvars.copy_context()
            ctx.run(VAR.set, f"ctx-{tag}")
            fut.add_done_callback(cb(tag), context=ctx)
        dropped = cb("x")
        fut.add_done_callback(dropped)
        assert fut.remove_done_callback(dropped) == 1
        assert fut.cancel() is False and not fut.cancelled()
        fut.set_result(None)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        late: list[str] = []
        fut.add_done_callback(lambda f: late.append(VAR.get()))  # already done: scheduled at once
        await asyncio.sleep(0)
        seen.append(("late", late))
        return seen, reported

    seen, reported = asyncio.run(main())
    assert seen == [("a", "ctx-a"), ("b", "ctx-b"), ("c", "ctx-c"), ("d", "ctx-d"), ("late", ["-"])]
    assert len(reported) == 1 and isinstance(reported[0]["exception"], ValueError)


def test_tasks_waiting_on_it_resume_with_its_outcome_and_a_cancelled_waiter_alone_is_cancelled() -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        fut = _GroupFuture(loop=loop)

        async def waiter(i: int) -> int:
            await fut
            return i

        tasks = [asyncio.ensure_future(waiter(i)) for i in range(5)]
        await asyncio.sleep(0)  # all waiting now
        tasks[2].cancel()
        fut.set_result(None)
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    got = asyncio.run(main())
    assert got[:2] == [0, 1] and got[3:] == [3, 4] and isinstance(got[2], asyncio.CancelledError)


def test_a_task_waiter_is_woken_with_a_done_plain_future_and_still_sees_a_failed_commit() -> None:
    """A C task's own wake-up is handed an exact asyncio future already done (asyncio reads its
    result without a method call, issue 20, eleventh round); other callbacks get the group future.
    The task's ``await`` still reads the group future: its result, or the commit's error."""

    class Boom(Exception):
        pass

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        outcomes: list[Any] = []
        for fail in (False, True):
            fut = _GroupFuture(loop=loop)
            other: list[Any] = []
            fut.add_done_callback(other.append)  # not a task: given the group future itself

            async def waiter(f: asyncio.Future[Any]) -> Any:
                return await f

            task = asyncio.ensure_future(waiter(fut))
            await asyncio.sleep(0)  # waiting now
            args = [w[2] for w in fut._woken]  # (checked below, once the waiter is done)
            if fail:
                fut.set_exception(Boom("commit failed"))
            else:
                fut.set_result("committed")
            outcomes.append((await asyncio.gather(task, return_exceptions=True))[0])
            assert other == [fut]
            assert args[0] is fut
            assert len(args) == 2 and args[1] is not fut and type(args[1]) is asyncio.Future
            assert args[1].done() and args[1].result() is None
        return outcomes

    outcomes = asyncio.run(main())
    assert outcomes[0] == "committed"
    assert isinstance(outcomes[1], Boom) and str(outcomes[1]) == "commit failed"
