"""A worker process: runs actions of one environment for the controller that started it.

``python -m flyte._runtime.placement.worker_main FD``: FD is one end of a socket pair. The event loop
reads messages (a blocking request made on the loop's thread reads its own reply); actions run as tasks
on this loop (sync tasks on its thread pool), so a replica with ``concurrency`` > 1 runs several async
actions at once. Inside an action the current controller is a :class:`RemoteController` (a
``ControllerAPI``, not a ``Controller``): child task calls, trace/durable steps and journal writes are
requests back to the controller, which owns the journal and the action IDs. The worker exits when the
controller closes the socket, unless the controller died while actions ran here: then they go on, their
outcomes are written to the run's store for a recovered driver to adopt, and the worker stops after a
grace period if none does (see ``adopt``).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import os
import pickle
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flyte._context import ActionContext
from flyte._runtime.controller import (
    ActionState,
    RecordedAction,
    SyncPool,
    load_value,
    route_call,
    store_value,
)
from flyte._runtime.journal import ActionRow
from flyte._runtime.placement import adopt, limits, wire
from flyte._runtime.placement.remote import Session, run_body
from flyte._runtime.placement.wire import HEADER, get_value, put_value, template_bytes
from flyte._runtime.store import ObjectStore, store_for

if TYPE_CHECKING:
    from flyte._runtime.controller_api import ControllerAPI, Identity
    from flyte._task import TaskTemplate


class DriverGone(ConnectionError):
    """The controller that started this worker is gone: a request to it cannot be answered."""


class Conn:
    """Blocking framed messages over a socket; sends from any thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self._buf = bytearray()  # received bytes not yet returned (read by one thread only)
        self._room = memoryview(bytearray(1 << 16))  # what ``pump`` reads into (unpickled at once)

    def send(self, msg: Any) -> None:
        data = wire.frame(msg)
        with self.lock:
            self.sock.sendall(data)

    def recv(self) -> Any:
        n = int.from_bytes(self._exact(wire.HEADER), "big")
        return wire.unframe(self._exact(n))

    def _exact(self, n: int) -> bytes:
        """``n`` bytes; reads ahead, so a small message (header and body) costs one ``recv``."""
        buf = self._buf
        while len(buf) < n:
            chunk = self.sock.recv(max(n - len(buf), 1 << 16))
            if not chunk:
                raise EOFError
            buf += chunk
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def pump(self) -> list[Any]:
        """One ``recv`` (the socket is readable, so it does not wait), then every whole message now
        buffered; raises EOFError when the controller closed the socket. The bytes are read into one
        kept buffer (no 64 KiB object made and shrunk per read) and messages are unpickled from it
        in place when nothing was left over (the usual case: no copies); a partial message is kept."""
        room = self._room
        n = self.sock.recv_into(room)
        if not n:
            raise EOFError
        buf = self._buf
        if not buf and n > HEADER and int.from_bytes(room[:HEADER], "big") == n - HEADER:
            return [pickle.loads(room[HEADER:n])]  # the usual read: one whole message
        data: memoryview | bytearray = room[:n]
        if buf:
            buf += data
            data = buf
            n = len(buf)
        out = []
        pos = 0
        loads = pickle.loads
        while n - pos >= HEADER:
            end = pos + HEADER + int.from_bytes(data[pos : pos + HEADER], "big")
            if end > n:
                break
            out.append(loads(data[pos + HEADER : end]))
            pos = end
        if data is buf:
            del buf[:pos]
        elif pos < n:
            buf += data[pos:]
        return out


@dataclass(eq=False)
class RemoteActionState(ActionState):
    """The worker's view of its action; step IDs (traces, durable) come from the controller."""

    worker: Any = None

    def __init__(self, action_id: str, task_name: str, attempt: int = 0, worker: Any = None) -> None:
        # by hand: the generated one takes every field and calls a factory per dict (one per action)
        ActionState.__init__(self, action_id, task_name, None, attempt)
        self.worker = worker

    def child_key(self, identity: str, inputs_hash: str) -> tuple[str, int]:
        aid, pos = self.worker.call_blocking("key", (self.action_id, identity, inputs_hash))
        return aid, pos


class _RemoteJournal:
    """The controller's journal, by request (traces and durable steps write through it)."""

    def __init__(self, worker: Session) -> None:
        self.worker = worker

    def action_ended(self, row: ActionRow, /) -> None:
        self.worker.notify("jwrite", ("action_ended", tuple(row)))

    def flush(self) -> None:
        self.worker.call_blocking("jflush", None)

    async def action_finished(self, row: ActionRow, /) -> None:
        await self.worker.call("jdurable", ("action_finished", tuple(row)))


class RemoteController:
    """The :class:`ControllerAPI` inside a worker: each request goes to the real controller.

    Not a ``Controller``: it owns no journal, action IDs, places or backends; a child call, a step's
    ID, a lookup of what an earlier execution recorded and a journal write are requests over
    ``worker`` (a worker process's socket, or a cluster body's transport)."""

    def __init__(self, worker: Session, init: Mapping[str, Any]) -> None:
        self.worker = worker
        self.run_name: str = init["run_name"]
        self.run_prefix: str = init["run_prefix"]
        self.store: ObjectStore = store_for(self.run_prefix)
        self.journal = _RemoteJournal(worker)
        self.recovered_from: str | None = init.get("recovered_from")
        self.recovering = bool(init.get("recovering"))
        self.loop: asyncio.AbstractEventLoop | None = worker.loop
        self.sync_pool = SyncPool(int(init.get("threads", 8)))
        project, domain, org = init.get("identity") or (None, None, None)
        self.identity: Identity = (project, domain, org)
        self.started_at: float | None = init.get("started_at")
        self.disable_run_cache = bool(init.get("disable_run_cache"))

    def call(
        self,
        tmpl: TaskTemplate[Any, Any],
        pac: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        via_aio: bool,
    ) -> Any:
        return route_call(
            tmpl, pac, via_aio, self.loop, self.sync_pool, lambda: self.submit(tmpl, pac, args, kwargs)
        )

    def sync_body(self, action: ActionState, call: Callable[[], Any]) -> Callable[[], Any]:
        return call  # the real controller admitted this action (its place) already

    def recorded_action(self, action_id: str) -> RecordedAction | None:
        rec: RecordedAction | None = self.worker.call_blocking("recorded", action_id)
        return rec

    def recorded_position(self, parent_id: str, position: int) -> str | None:
        name: str | None = self.worker.call_blocking("position", (parent_id, position))
        return name

    def copy_recovered(
        self, action_id: str, parent_id: str | None = None, position: int | None = None
    ) -> None:
        self.worker.notify("copy_recovered", (action_id, parent_id, position))

    def store_value(self, action_id: str, name: str, data: bytes) -> bytes:
        return store_value(self.store, self.run_prefix, action_id, name, data)

    def load_value(self, data: bytes) -> bytes:
        return load_value(self.store, data)

    async def submit(
        self, tmpl: Any, pac: ActionContext, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        tb = template_bytes(tmpl)
        data = put_value(
            self.store, self.run_prefix, pac.action.action_id, wire.dumps((tuple(args), dict(kwargs)))
        )
        result = await self.worker.call(
            "submit", (pac.action.action_id, tb, data, pac.group, dict(pac.custom))
        )
        return wire.loads(get_value(self.store, result))


def controller_for(worker: Session, init: Mapping[str, Any]) -> ControllerAPI:
    """The controller of actions run here. Typed: mypy proves :class:`RemoteController` implements
    the protocol (``core/tests/test_controller_api.py`` checks the same at run time)."""
    return RemoteController(worker, init)


class Worker:
    def __init__(self, conn: Conn, init: Mapping[str, Any]) -> None:
        self.conn = conn
        self.init = init
        self.loop = asyncio.new_event_loop()
        self.pending: dict[int, concurrent.futures.Future[Any]] = {}
        self.ids = itertools.count(1)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.queued: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        """Actions sent ahead (``after``): each starts once nothing runs here (see pool._prefetch)."""
        self.templates: dict[bytes, Any] = {}
        self.template_ids: dict[int, bytes] = {}
        self.peak_base: int | None = None  # the RSS high-water mark right after the last reset
        self.controller = controller_for(self, init)
        self.where = f"worker process {os.getpid()} ({init.get('pool', '?')})"
        self.orphaned: float | None = None  # when the controller went away with actions running here
        self.loop_thread: int | None = None
        self.data_limit: int | bool | None = False  # the limit set_data_limit last set (False: none yet)
        self.claims = adopt.ClaimLog(self.controller.store, self.controller.run_prefix)
        self.idle_wait: Callable[[Any], bool] | None = None  # see serve and _receive

    # ---- requests to the controller --------------------------------------------------------------
    def _request(self, kind: str, payload: Any) -> concurrent.futures.Future[Any]:
        rid = next(self.ids)
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self.orphaned is not None:
            fut.set_exception(DriverGone(f"the controller of this run is gone; {kind!r} cannot be answered"))
            return fut
        self.pending[rid] = fut
        try:
            self.conn.send(("req", rid, kind, payload))
        except OSError as e:
            self.pending.pop(rid, None)
            fut.set_exception(DriverGone(f"the controller of this run is gone ({e})"))
        return fut

    async def call(self, kind: str, payload: Any) -> Any:
        ok, value = await asyncio.wrap_future(self._request(kind, payload))
        if not ok:
            raise wire.load_error(value)
        return value

    def call_blocking(self, kind: str, payload: Any) -> Any:
        """From sync code. On a thread of the pool, the loop delivers the reply; on the loop's own
        thread (which then cannot), this call reads the socket itself until its reply is in."""
        fut = self._request(kind, payload)
        if threading.get_ident() == self.loop_thread:
            while not fut.done():
                self._receive()  # inside a task step: what it starts waits for its turn
        ok, value = fut.result()
        if not ok:
            raise wire.load_error(value)
        return value

    def notify(self, kind: str, payload: Any) -> None:
        try:
            self.conn.send(("req", 0, kind, payload))
        except OSError:
            pass  # the controller is gone: the action's outcome still goes to the store

    # ---- the loop ----------------------------------------------------------------------------------
    def serve(self) -> None:
        """Messages are read on the loop's thread when the socket is readable (no reader thread: one
        wake-up per message instead of two), all whole messages of a read at once."""
        self.loop_thread = threading.get_ident()
        fd = self.conn.sock.fileno()
        self.loop.add_reader(fd, self._receive, wire.run_queue(self.loop))
        wait = wire.ReaderWait(self.loop, fd)
        self.idle_wait = wait.wait if wait.enabled else None
        self.conn.send(("ready", os.getpid()))
        self.loop.run_forever()

    def _receive(self, ready: Any = None) -> None:
        """The messages now readable. ``ready``: the loop's run queue, given when this is the loop's
        reader callback (not inside a task step), so an action starts in this turn (``_start``).

        As the reader callback, it then waits for the next message itself while the loop has
        nothing else to do (``wire.ReaderWait``: nothing ready, no timer due, no other reader, no
        wake-up from another thread), e.g. a one-action worker whose action was done and answered
        in this turn: the next action's message is read and started here too, without a turn of
        the loop (issue 20: the chain step). Anything else hands back to the loop at once."""
        if self.orphaned is not None:
            return
        while True:
            try:
                msgs = self.conn.pump()
            except (EOFError, OSError):
                self.loop.remove_reader(self.conn.sock.fileno())
                self._orphan()
                return
            self._handle(msgs, ready)
            if ready is None or self.idle_wait is None or self.orphaned is not None:
                return
            if not self.idle_wait(ready):
                return

    def _handle(self, msgs: list[Any], ready: Any) -> None:
        for msg in msgs:
            kind = msg[0]
            if kind == "run":
                spec = msg[2]
                tid = spec.get("tmpl_id")
                if tid is not None:  # a template's bytes come once, then its ID (see pool._run_once)
                    if spec["tmpl"] is None:
                        spec["tmpl"] = self.template_ids[tid]
                    else:
                        self.template_ids[tid] = spec["tmpl"]
                if spec.get("after") and (self.tasks or self.queued):
                    self.queued.append((msg[1], spec))  # its CPU share is the running action's
                else:
                    self._start(msg[1], spec, ready)  # on the loop's thread already
            elif kind == "reply":
                fut = self.pending.pop(msg[1], None)
                if fut is not None:
                    fut.set_result(msg[2])
            elif kind == "cancel":
                self._cancel(msg[1])
            elif kind == "withdraw":
                self._unqueue(msg[1])
            elif kind == "stop":
                _exit()

    def _start(self, action_id: str, spec: dict[str, Any], ready: Any = None) -> None:
        """The action's task; with ``ready`` (the loop's run queue, from the reader callback) its
        first step runs now (``wire.step_now``): a quick action is done and answered in the turn
        its message came in."""
        before = len(ready) if ready is not None else 0
        loop = self.loop
        # Named: an unnamed task formats "Task-N" for itself (a tenth of the C work of a small action).
        # Made directly when the loop has no task factory (what create_task then does, less its
        # Python: it names the task twice; issue 20)
        if loop.get_task_factory() is None:
            task = asyncio.Task(self._run(action_id, spec), loop=loop, name=action_id)
        else:
            task = loop.create_task(self._run(action_id, spec), name=action_id)
        self.tasks[action_id] = task
        if ready is not None:
            wire.step_now(ready, before)

    def _cancel(self, action_id: str) -> None:
        t = self.tasks.get(action_id)
        if t is not None:
            t.cancel()
        elif self._unqueue(action_id):  # sent ahead, not started: never claimed, so nothing to drop
            try:
                self.conn.send(("done", action_id, False, ("cancelled",), None))
            except OSError:
                pass

    def _unqueue(self, action_id: str) -> bool:
        for i, (aid, _) in enumerate(self.queued):
            if aid == action_id:
                del self.queued[i]
                return True
        return False

    def _template(self, data: bytes) -> Any:
        tmpl = self.templates.get(data)
        if tmpl is None:
            tmpl = self.templates[data] = wire.loads(data)
        return tmpl

    def _fresh_peak(self) -> None:
        """A new RSS high-water mark for this action. The reset (``clear_refs``) walks the process's
        page tables, so it is skipped while the mark grew less than ``PEAK_SLACK`` since the last
        one (one ``getrusage`` tells): the peak an out-of-memory message gives is then off by less."""
        peak = limits.maxrss_self()
        if peak is None or self.peak_base is None or peak > self.peak_base + limits.PEAK_SLACK:
            limits.reset_peak_self()
            self.peak_base = limits.maxrss_self()

    async def _run(self, action_id: str, spec: dict[str, Any]) -> None:
        limit: int | None = spec.get("mem_limit")
        if limit is not None and len(self.tasks) == 1:
            self._fresh_peak()  # the peak is reported only for a limited action that ran out
        if limit != self.data_limit:
            limits.set_data_limit(limit)
            self.data_limit = limit
        try:
            try:  # the claim first: a recovered driver adopts this action instead of running it again
                self.claims.claim(action_id, spec["attempt"], fresh=bool(spec.get("fresh")))
            except Exception:
                pass  # adoption is best effort: the action still runs and reports over the socket
            done: tuple[bool, Any, int | None]
            try:
                result = await run_body(self, self.controller, action_id, spec, True)
                done = (True, result, None)  # the peak matters only when the limit was hit
            except asyncio.CancelledError:
                done = (False, ("cancelled",), None)
            except MemoryError as e:
                if limit is None:
                    done = (False, wire.dump_error(e, self.where), None)
                else:
                    done = (False, ("oom", limit), limits.peak_rss_self())
            except BaseException as e:
                if self.orphaned is not None and _needs_driver(e):
                    adopt.write_orphaned(
                        self.controller.store,
                        self.controller.run_prefix,
                        action_id,
                        "it needed its controller (e.g. to call a task) while none ran",
                    )
                    return
                done = (False, wire.dump_error(e, self.where), None)
            self._done(action_id, done)
        finally:
            self.tasks.pop(action_id, None)
            if self.queued and not self.tasks and self.orphaned is None:
                self._start(*self.queued.popleft())  # the one sent ahead: it has this one's CPU share

    def _done(self, action_id: str, done: tuple[bool, Any, int | None]) -> None:
        """The outcome to the controller and to the claim log (where a recovered driver finds it).

        With the driver there, the result is sent first and its record is then held for the next
        write (``ClaimLog.outcome(hold=True)``): the record waits in this process's memory either
        way, so building it after the send changes nothing for a driver that recovers, and the
        driver has the result a little sooner. Without a driver (or for a cancelled action) the
        record is written before anything else."""
        if self.orphaned is None and done[1] != ("cancelled",):
            sent = True
            try:
                self.conn.send(("done", action_id, *done))
            except OSError:
                sent = False  # the driver is gone: the record is written now
            try:
                self.claims.outcome(action_id, *done, hold=sent)
            except Exception:
                pass
            return
        try:
            if done[1] == ("cancelled",):
                self.claims.drop(action_id)
            else:
                self.claims.outcome(action_id, *done)
        except Exception:
            pass
        if self.orphaned is None:
            try:
                self.conn.send(("done", action_id, *done))
            except OSError:
                pass

    def _orphan(self) -> None:
        """The controller closed the socket. Idle: exit. Running actions: they finish (their outcomes go
        to the store) while a driver adopts them; none within the grace period: stop, saying why."""
        self.queued.clear()  # sent ahead, never started or claimed: a recovered driver runs them
        try:  # first: the outcomes held for the next claim, which a recovered driver may be after
            self.claims.flush()
        except Exception:
            pass
        if not self.tasks:
            _exit()
        self.orphaned = time.time()
        for fut in list(self.pending.values()):
            if not fut.done():
                fut.set_exception(DriverGone("the controller of this run is gone"))
        self.pending.clear()
        threading.Thread(target=self._watch_orphan, name="flyte-worker-orphan", daemon=True).start()

    def _watch_orphan(self) -> None:
        grace = adopt.orphan_grace()
        store, prefix = self.controller.store, self.controller.run_prefix
        assert self.orphaned is not None
        while True:
            running = list(self.tasks)
            if not running:
                _exit()
            newest = max([self.orphaned, *(adopt.last_adopted(store, prefix, a) for a in running)])
            if time.time() - newest > grace:
                why = (
                    f"its controller stopped and no recovered driver adopted it within {grace:g}s "
                    "(FLYTE_ORPHAN_GRACE_SECONDS); the worker stopped it"
                )
                for a in running:
                    try:
                        adopt.write_orphaned(store, prefix, a, why)
                    except Exception:
                        pass
                _exit()
            time.sleep(min(1.0, max(0.05, grace / 10)))


def _needs_driver(e: BaseException) -> bool:
    seen: BaseException | None = e
    for _ in range(20):
        if seen is None:
            return False
        if isinstance(seen, DriverGone):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


CURRENT: Worker | None = None
"""This process's worker (None outside a worker process): what a body may look at about its place."""
_profile: Any = None  # FLYTE_WORKER_PROFILE=DIR: cProfile of this worker, written to DIR/PID.prof at exit


def _exit() -> Any:
    try:
        if CURRENT is not None:
            try:
                CURRENT.claims.flush()  # outcomes held for a next claim that will not come
            except Exception:
                pass
        if _profile is not None:
            _profile.disable()
            _profile.dump_stats(os.path.join(os.environ["FLYTE_WORKER_PROFILE"], f"{os.getpid()}.prof"))
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    global _profile, CURRENT
    args = sys.argv[1:] if argv is None else argv
    if os.environ.get("FLYTE_WORKER_PROFILE"):
        import cProfile

        _profile = cProfile.Profile()
        _profile.enable()
    sock = socket.socket(fileno=int(args[0]))
    conn = Conn(sock)
    kind, init = conn.recv()
    assert kind == "init", kind
    for p in reversed(init.get("sys_path", [])):
        if p not in sys.path:
            sys.path.insert(0, p)
    import signal

    import flyte._runtime.placement as pkg

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the controller's to handle; it stops us

    pkg.IN_WORKER = True  # a run started inside a task here stays inline (no nested worker pools)
    from flyte._runtime.placement import worker_main as importable  # this file runs as __main__

    worker = CURRENT = importable.CURRENT = Worker(conn, init)  # this module's too: _exit reads it
    if init.get("preload"):
        try:  # import the environment's module now: module-level setup is paid before the first action
            worker._template(init["preload"])
        except Exception:
            pass  # reported with the first action that needs it
    worker.serve()


if __name__ == "__main__":
    main()
