"""A worker between actions waits for its next message inside the reader callback (issue 20: the
chain step), and only while its loop has nothing else to do.

- ``wire.ReaderWait`` says True only when the socket alone became readable; a wake-up from another
  thread (``call_soon_threadsafe``), a timer coming due, a callback ready or a second reader all
  hand back to the loop; a debug loop never waits this way;
- a worker given one action after another (a chain) runs them all from one reader callback, with
  no loop turn between them, and each is claimed, run and answered as before;
- a worker that waits this way still runs, on time, what an earlier action left on its loop: a
  timer, and a callback another thread schedules.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import flyte
from flyte._runtime.placement import adopt, wire
from flyte._runtime.placement.wire import template_bytes
from flyte._runtime.placement.worker_main import Conn, Worker

env = flyte.TaskEnvironment(name="idle_wait")

SEEN: list[Any] = []


@env.task
async def plus_one(x: int) -> int:
    return x + 1


@env.task
async def whoami() -> str:
    task = asyncio.current_task()
    assert task is not None
    async with asyncio.timeout(5):  # a body may use what needs a current task
        await asyncio.sleep(0)
    return task.get_name()


@env.task
async def leave_a_timer(delay: float) -> int:
    """Returns at once; a callback it left on the loop runs ``delay`` seconds later."""
    loop = asyncio.get_running_loop()
    loop.call_later(delay, lambda: SEEN.append(("timer", time.monotonic())))
    return 0


@env.task
async def leave_a_thread(delay: float) -> int:
    """Returns at once; a thread it started schedules a callback on the loop ``delay`` s later."""
    loop = asyncio.get_running_loop()

    def later() -> None:
        time.sleep(delay)
        loop.call_soon_threadsafe(lambda: SEEN.append(("thread", time.monotonic())))

    threading.Thread(target=later, daemon=True).start()
    return 0


# ---- wire.ReaderWait -------------------------------------------------------------------------------
def _waiter() -> tuple[asyncio.AbstractEventLoop, socket.socket, socket.socket, wire.ReaderWait]:
    loop = asyncio.new_event_loop()
    ours, theirs = socket.socketpair()
    loop.add_reader(theirs.fileno(), lambda: None)
    wait = wire.ReaderWait(loop, theirs.fileno())
    assert wait.enabled
    return loop, ours, theirs, wait


def _close(loop: asyncio.AbstractEventLoop, *socks: socket.socket) -> None:
    for s in socks:
        loop.remove_reader(s.fileno())
        s.close()
    loop.close()


def test_reader_wait_returns_when_the_socket_is_readable() -> None:
    loop, ours, theirs, wait = _waiter()
    try:
        threading.Timer(0.05, ours.sendall, (b"x",)).start()
        t0 = time.monotonic()
        assert wait.wait(wire.run_queue(loop)) is True
        assert time.monotonic() - t0 >= 0.04
        ours.close()
        assert wait.wait(wire.run_queue(loop)) is True  # end of file: the caller reads it and sees it
    finally:
        _close(loop, theirs)


def test_reader_wait_hands_back_on_a_wakeup_from_another_thread() -> None:
    loop, ours, theirs, wait = _waiter()
    try:
        threading.Timer(0.05, loop.call_soon_threadsafe, (lambda: None,)).start()
        t0 = time.monotonic()
        assert wait.wait(wire.run_queue(loop)) is False  # not stuck until a message comes
        assert time.monotonic() - t0 < 5
    finally:
        _close(loop, ours, theirs)


def test_reader_wait_waits_no_longer_than_the_next_timer() -> None:
    loop, ours, theirs, wait = _waiter()
    try:
        loop.call_later(0.05, lambda: None)
        t0 = time.monotonic()
        assert wait.wait(wire.run_queue(loop)) is False
        took = time.monotonic() - t0
        assert 0.04 <= took < 5
        assert loop.time() >= loop._scheduled[0].when()  # type: ignore[attr-defined]
    finally:
        _close(loop, ours, theirs)


def test_reader_wait_does_not_wait_with_work_ready_or_another_reader() -> None:
    loop, ours, theirs, wait = _waiter()
    other_a, other_b = socket.socketpair()
    try:
        ready = wire.run_queue(loop)
        loop.call_soon(lambda: None)
        t0 = time.monotonic()
        assert wait.wait(ready) is False  # a callback is ready: returns at once
        ready.clear()
        loop.add_reader(other_a.fileno(), lambda: None)
        assert wait.wait(ready) is False  # the loop watches another file descriptor
        assert time.monotonic() - t0 < 1
        loop.remove_reader(other_a.fileno())
        ours.sendall(b"x")
        assert wait.wait(ready) is True  # back to only its own
    finally:
        other_a.close()
        other_b.close()
        _close(loop, ours, theirs)


def test_reader_wait_is_off_for_a_debug_loop_or_with_other_readers() -> None:
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    try:
        loop.add_reader(b.fileno(), lambda: None)
        assert not wire.ReaderWait(loop, b.fileno()).enabled
        loop.set_debug(False)
        assert wire.ReaderWait(loop, b.fileno()).enabled
        loop.add_reader(d.fileno(), lambda: None)
        assert not wire.ReaderWait(loop, b.fileno()).enabled
        loop.remove_reader(d.fileno())
    finally:
        for s in (a, c, d):
            s.close()
        _close(loop, b)


# ---- a worker ---------------------------------------------------------------------------------------
class _Served:
    """A :class:`Worker` serving on a thread of this process, its driver end here."""

    def __init__(self, tmp_path: Path) -> None:
        self.driver, ours = socket.socketpair()
        self.worker = Worker(Conn(ours), {"run_name": "r", "run_prefix": tmp_path.as_uri()})
        self.turns = 0
        selector = self.worker.loop._selector  # type: ignore[attr-defined]
        select = selector.select

        def counted(timeout: float | None = None) -> Any:
            self.turns += 1
            return select(timeout)

        selector.select = counted
        self.thread = threading.Thread(target=self.worker.serve, daemon=True)
        self.thread.start()
        self.conn = Conn(self.driver)
        assert self.conn.recv()[0] == "ready"
        self.sent_template: set[bytes] = set()

    def run(self, aid: str, tmpl: Any, inputs: dict[str, Any]) -> Any:
        tb = template_bytes(tmpl)
        spec = {
            "tmpl": None if tb in self.sent_template else tb,
            "tmpl_id": hash(tb),
            "inputs": inputs,
            "attempt": 0,
            "task_name": tmpl.name,
            "mem_limit": None,
            "fresh": True,
        }
        self.sent_template.add(tb)
        self.conn.send(("run", aid, spec))
        return self.conn.recv()

    def close(self) -> None:
        self.worker.loop.call_soon_threadsafe(self.worker.loop.stop)
        self.thread.join(10)
        assert not self.thread.is_alive()
        self.worker.loop.close()
        self.driver.close()
        self.worker.conn.sock.close()
        self.worker.controller.sync_pool.shutdown(wait=False)  # type: ignore[attr-defined]


def test_a_chain_of_actions_runs_without_a_loop_turn_between_them(tmp_path: Path) -> None:
    served = _Served(tmp_path)
    try:
        x = 0
        assert served.run("warm0", plus_one, {"x": x})[2:] == (True, (wire.VALUE, 1), None)
        turns = served.turns
        for i in range(50):
            done = served.run(f"step{i}", plus_one, {"x": x})
            assert done == ("done", f"step{i}", True, (wire.VALUE, x + 1), None)
            x += 1
        assert served.turns - turns <= 2  # one reader callback took them all (it was 50 turns)
        assert served.run("who", whoami, {})[2:] == (True, (wire.VALUE, "who"), None)  # its own task
        claims = adopt._ClaimIndex(str(tmp_path / adopt.CLAIMS))
        claims.refresh()
        assert all(claims.lookup(f"step{i}") is not None for i in range(50))  # each claimed first
    finally:
        served.close()


def test_a_waiting_worker_still_runs_what_an_action_left_on_its_loop(tmp_path: Path) -> None:
    served = _Served(tmp_path)
    SEEN.clear()
    try:
        t0 = time.monotonic()
        assert served.run("a1", leave_a_timer, {"delay": 0.2})[2] is True
        assert served.run("a2", leave_a_thread, {"delay": 0.2})[2] is True
        deadline = time.monotonic() + 10
        while len(SEEN) < 2 and time.monotonic() < deadline:  # no message comes meanwhile
            time.sleep(0.01)
        assert sorted(kind for kind, _ in SEEN) == ["thread", "timer"]
        assert all(when - t0 < 5 for _, when in SEEN)
        assert served.run("a3", plus_one, {"x": 1})[2:] == (True, (wire.VALUE, 2), None)  # still serving
    finally:
        served.close()
