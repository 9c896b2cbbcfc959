"""``Controller.call`` and the plain child's durable write find the run's loop without
``asyncio.get_running_loop()`` (issue 20: on Python 3.11 each lookup is a getpid system call, two a
fan-out child). What it must still get right: a call from another thread (a sync body on the
pool), a loop without ``_thread_id``, and a forked child, where a copied loop still names the
thread, all take asyncio's answer."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import flyte
import pytest
from flyte._runtime import controller
from flyte.testing._support import isolate

env = flyte.TaskEnvironment(name="loop_by_thread")


@env.task
async def inc(x: int) -> int:
    return x + 1


@env.task
async def fan(n: int) -> int:
    return sum(await asyncio.gather(*(inc(i) for i in range(n))))


@env.task
def sync_parent(n: int) -> int:  # runs on the pool's thread: its calls are routed to the run's loop
    return sum(inc(i) for i in range(n))


@env.task
async def mixed(n: int) -> int:
    return await fan(n) + await sync_parent.aio(n)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = asyncio.get_running_loop

    def counted() -> asyncio.AbstractEventLoop:
        calls[0] += 1
        return real()

    monkeypatch.setattr(asyncio, "get_running_loop", counted)
    return calls


def _lookups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int) -> int:
    (tmp_path / str(n)).mkdir()
    isolate(monkeypatch, tmp_path / str(n))
    flyte.init()
    calls = _counting(monkeypatch)
    assert flyte.run(fan, n=n).outputs()[0] == sum(range(1, n + 1))
    monkeypatch.setattr(asyncio, "get_running_loop", asyncio.events.get_running_loop)
    return calls[0]


def test_a_fan_out_child_asks_asyncio_for_no_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    few, many = _lookups(tmp_path, monkeypatch, 10), _lookups(tmp_path, monkeypatch, 210)
    assert many - few < 20, (few, many)  # a lookup per child would be 200 or 400 more


def test_calls_from_a_pool_thread_and_the_loop_both_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)
    flyte.init()
    assert flyte.run(mixed, n=20).outputs()[0] == 2 * sum(range(1, 21))


def test_a_loop_without_a_thread_id_is_asked_through_asyncio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)
    flyte.init()
    real = controller.Controller.call
    seen: list[bool] = []

    def without_thread_id(self: Any, *a: Any) -> Any:
        loop = self.loop
        tid = loop.__dict__.pop("_thread_id", None)  # as a loop class without the attribute
        try:
            seen.append(True)
            return real(self, *a)
        finally:
            if tid is not None:
                loop._thread_id = tid

    monkeypatch.setattr(controller.Controller, "call", without_thread_id)
    calls = _counting(monkeypatch)
    assert flyte.run(fan, n=15).outputs()[0] == sum(range(1, 16))
    assert len(seen) >= 15 and calls[0] >= 15  # each call asked asyncio instead


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_forked_child_no_longer_trusts_the_copied_loop() -> None:
    assert controller._forked is False
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the flag and leave at once (no pytest teardown here)
        os.write(w, b"1" if controller._forked else b"0")
        os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert got == b"1" and controller._forked is False
