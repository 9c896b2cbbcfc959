"""The cluster-executor contract (``flyte.init(executor=...)``), with an executor written the way a
plugin would write one: each action's body runs on a thread of its own with its own event loop, and
talks to the controller only through ``flyte.extend.run_action_here`` and ``RemoteAction.reply``.
flyte-plugin-ray implements the same contract on a real Ray cluster (its tests start one)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import journal_rows
from flyte.errors import InvalidParameterError, NonRecoverableError
from flyte.extend import RemoteAction, run_action_here

env = flyte.TaskEnvironment(name="cluster_demo")


@env.task
async def square(x: int) -> int:
    return x * x


@env.task
async def inner(n: int) -> dict[str, Any]:
    total = sum(await asyncio.gather(*(square(i) for i in range(n))))
    return {"total": total, "thread": threading.current_thread().name}


@env.task
async def outer(n: int) -> list[dict[str, Any]]:
    return list(await asyncio.gather(inner(n), inner(n + 1)))


class Picky(ValueError):
    def __init__(self, x: int) -> None:
        super().__init__(f"picky {x}")
        self.x = x


@env.task
async def fails(x: int) -> int:
    raise Picky(x)


@env.task
async def catches(x: int) -> str:
    try:
        await fails(x)
    except Picky as e:
        return f"{type(e).__name__}:{e.x}"
    return "no"


@flyte.trace
async def halve(x: int) -> int:
    return x // 2


@env.task
async def traced(x: int) -> int:
    return await halve(x) + 1


@env.task
async def root_traced(x: int) -> int:
    return await traced(x)


class ThreadExecutor:
    """A 'cluster' of threads: every action body on a fresh thread, answered through ``reply``."""

    mode = "threads"
    instances: list[ThreadExecutor] = []

    def __init__(self, address: str) -> None:
        self.address = address
        self.ran: list[str] = []
        self.closed = False
        ThreadExecutor.instances.append(self)

    async def run(self, action: RemoteAction) -> Any:
        loop = asyncio.get_running_loop()
        spec = action.spec()  # inline_limit=0: inputs and outputs through the run's store

        class Transport:
            def request(self, kind: str, payload: Any) -> concurrent.futures.Future[Any]:
                return asyncio.run_coroutine_threadsafe(action.reply(kind, payload), loop)

            def post(self, kind: str, payload: Any) -> None:
                asyncio.run_coroutine_threadsafe(action.reply(kind, payload), loop)

        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def body() -> None:
            # own_process=False: the body runs inside the controller's process, which keeps its settings
            result.set_result(run_action_here(spec, Transport(), "a test thread", own_process=False))

        self.ran.append(action.task.name)
        threading.Thread(target=body, name=f"remote-{action.action_id[:8]}").start()
        return action.outcome(await asyncio.wrap_future(result))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def threads_executor() -> Iterator[None]:
    from flyte._plugins.manager import load_plugins

    executors = load_plugins().executors
    executors.add("threads", ThreadExecutor)  # what a plugin's flyte_register_executors hook does
    ThreadExecutor.instances.clear()
    try:
        yield
    finally:
        executors.factories.pop("threads", None)


def test_children_run_on_the_executor_and_the_root_stays_with_the_controller(
    threads_executor: None, flyte_home: Path
) -> None:
    flyte.init(executor="threads://anywhere")
    run = flyte.run(outer, n=4)
    a, b = run.outputs()[0]
    assert (a["total"], b["total"]) == (14, 30)
    assert a["thread"].startswith("remote-") and b["thread"].startswith("remote-")
    [ex] = ThreadExecutor.instances
    assert ex.address == "threads://anywhere" and ex.closed  # closed at run end
    assert sorted(set(ex.ran)) == ["cluster_demo.inner", "cluster_demo.square"]  # never the root
    modes = {
        r["task_name"]: r["mode"] for r in journal_rows(flyte_home, "SELECT task_name, mode FROM actions")
    }
    assert modes == {
        "cluster_demo.outer": "inline",
        "cluster_demo.inner": "threads",
        "cluster_demo.square": "threads",
    }


local_env = flyte.TaskEnvironment(name="cluster_demo_local", isolation="inline")


@local_env.task
async def stays_here() -> str:
    return threading.current_thread().name


@env.task
async def mixed_places() -> list[str]:
    return [await stays_here(), (await inner(1))["thread"]]


def test_an_environment_declared_inline_stays_with_the_controller(threads_executor: None) -> None:
    flyte.init(executor="threads")
    here, remote = flyte.run(mixed_places).outputs()[0]
    assert not here.startswith("remote-") and remote.startswith("remote-")


def test_exceptions_keep_their_type_and_traces_are_recorded(threads_executor: None, flyte_home: Path) -> None:
    flyte.init(executor="threads")
    assert flyte.run(catches, x=3).outputs()[0] == "RuntimeUserError:3"  # caught as Picky (anchor name)
    run = flyte.run(root_traced, x=10)
    assert run.outputs()[0] == 6
    kinds = {
        r["task_name"]: r["kind"] for r in journal_rows(flyte_home, "SELECT task_name, kind FROM actions")
    }
    assert kinds.get("halve") == "trace" or any(k.endswith("halve") for k in kinds), kinds


def test_recovery_replays_cluster_children_from_the_journal(threads_executor: None, flyte_home: Path) -> None:
    flyte.init(executor="threads")
    flyte.with_runcontext(name="cl-rec").run(outer, n=3).outputs()[0]
    ThreadExecutor.instances.clear()
    again = flyte.rerun("cl-rec", recover=True)
    assert [r["total"] for r in again.outputs()[0]] == [5, 14]
    assert ThreadExecutor.instances[0].ran == []  # everything finished was recorded: nothing re-ran


def test_a_missing_executor_plugin_is_named_before_anything_is_recorded(flyte_home: Path) -> None:
    flyte.init(executor="ray://head:10001")
    try:
        import flyteplugins.ray  # noqa: F401

        pytest.skip("flyte-plugin-ray is installed here")
    except ImportError:
        pass
    with pytest.raises(NonRecoverableError, match="pip install flyte-plugin-ray"):
        flyte.run(square, x=2)
    assert not (flyte_home / "journal.db").exists() or not journal_rows(flyte_home, "SELECT * FROM runs")


def test_the_test_process_keeps_its_own_settings(threads_executor: None) -> None:
    """A body run in this process must not mark it a worker (later runs would lose their pools)."""
    import flyte._runtime.placement as workers

    flyte.init(executor="threads")
    assert flyte.run(outer, n=1).outputs()[0][0]["total"] == 0
    assert workers.IN_WORKER is False


def test_a_malformed_executor_fails_at_init(flyte_home: Path) -> None:
    with pytest.raises(InvalidParameterError, match="executor"):
        flyte.init(executor="not an address")


class BatchingExecutor(ThreadExecutor):
    """As :class:`ThreadExecutor`, with a transport that also takes a body's requests in batches
    (``request_many``, what flyte-plugin-ray's channel offers); it counts the batches' sizes."""

    mode = "batching"
    batches: list[int] = []

    async def run(self, action: RemoteAction) -> Any:
        loop = asyncio.get_running_loop()
        spec = action.spec()
        sizes = self.batches

        class Transport:
            def request(self, kind: str, payload: Any) -> concurrent.futures.Future[Any]:
                return asyncio.run_coroutine_threadsafe(action.reply(kind, payload), loop)

            def request_many(self, items: list[tuple[str, Any]]) -> list[concurrent.futures.Future[Any]]:
                sizes.append(len(items))
                return [self.request(kind, payload) for kind, payload in items]

            def post(self, kind: str, payload: Any) -> None:
                asyncio.run_coroutine_threadsafe(action.reply(kind, payload), loop)

        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def body() -> None:
            result.set_result(run_action_here(spec, Transport(), "a test thread", own_process=False))

        threading.Thread(target=body, name=f"remote-{action.action_id[:8]}").start()
        return action.outcome(await asyncio.wrap_future(result))


@env.task
async def fan_and_trace(n: int) -> int:
    children = [asyncio.ensure_future(square(i)) for i in range(n)]
    await asyncio.sleep(0)  # the children's calls wait for the end of this turn to leave together
    half = await halve(n)  # a blocking step-ID request on this loop meanwhile: it must not wait for them
    return sum(await asyncio.gather(*children)) + half


@env.task
async def fan_parent(n: int) -> int:
    return await fan_and_trace(n)


def test_a_body_sends_the_child_calls_of_one_turn_in_one_batch(flyte_home: Path) -> None:
    from flyte._plugins.manager import load_plugins

    executors = load_plugins().executors
    executors.add("batching", BatchingExecutor)
    BatchingExecutor.batches = []
    try:
        flyte.init(executor="batching")
        assert flyte.run(fan_parent, n=30).outputs()[0] == sum(i * i for i in range(30)) + 15
    finally:
        executors.factories.pop("batching", None)
    assert 30 in BatchingExecutor.batches, BatchingExecutor.batches  # one call for the 30 child calls
