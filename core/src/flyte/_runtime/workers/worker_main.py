"""A worker process: runs actions of one environment for the controller that started it.

``python -m flyte._runtime.workers.worker_main FD``: FD is one end of a socket pair. A reader thread
receives messages; actions run as tasks on this process's event loop (sync tasks on its thread pool),
so a replica with ``concurrency`` > 1 runs several async actions at once. Inside an action the
current controller is a :class:`RemoteController`: child task calls, trace/durable steps and journal
writes are requests back to the controller, which owns the journal and the action IDs. The worker
exits when the controller closes the socket (or dies), so no worker outlives its run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flyte._context import ActionContext
from flyte._runtime.controller import ActionState, Controller, RecordedAction, SyncPool
from flyte._runtime.journal import ActionRow
from flyte._runtime.store import store_for
from flyte._runtime.workers import limits, wire
from flyte._runtime.workers.remote import Session, run_body
from flyte._runtime.workers.wire import get_value, put_value, template_bytes


class Conn:
    """Blocking framed messages over a socket; sends from any thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self._buf = bytearray()  # received bytes not yet returned (read by one thread only)

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


@dataclass(eq=False)
class RemoteActionState(ActionState):
    """The worker's view of its action; step IDs (traces, durable) come from the controller."""

    worker: Any = None

    def child_key(self, identity: str, inputs_hash: str) -> tuple[str, int]:
        aid, pos = self.worker.call_blocking("key", (self.action_id, identity, inputs_hash))
        return aid, pos


class _RemoteRecorded:
    def __init__(self, worker: Session) -> None:
        self.worker = worker

    def get(self, action_id: str) -> RecordedAction | None:
        rec: RecordedAction | None = self.worker.call_blocking("recorded", action_id)
        return rec

    def __contains__(self, action_id: str) -> bool:
        return self.get(action_id) is not None


class _RemotePositions:
    """Which task a recovered run called at each position (non-determinism checks of steps)."""

    def __init__(self, worker: Session, recovering: bool) -> None:
        self.worker = worker
        self.recovering = recovering

    def __bool__(self) -> bool:
        return self.recovering

    def get(self, key: tuple[str, int]) -> str | None:
        name: str | None = self.worker.call_blocking("position", key)
        return name


class _RemoteJournal:
    """The controller's journal, by request (traces and durable steps write through it)."""

    def __init__(self, worker: Session) -> None:
        self.worker = worker

    def action_ended(self, row: ActionRow) -> None:
        self.worker.notify("jwrite", ("action_ended", tuple(row)))

    def flush(self) -> None:
        self.worker.call_blocking("jflush", None)

    async def action_finished(self, row: ActionRow) -> None:
        await self.worker.call("jdurable", ("action_finished", tuple(row)))


class RemoteController(Controller):
    """The controller as seen from inside a worker: ``submit`` is a request to the real one."""

    def __init__(self, worker: Session, init: Mapping[str, Any]) -> None:  # no super(): nothing local to own
        self.worker = worker
        self.run_name = init["run_name"]
        self.run_prefix = init["run_prefix"]
        self.store = store_for(self.run_prefix)
        self.journal = _RemoteJournal(worker)  # type: ignore[assignment]
        self.recorded = _RemoteRecorded(worker)  # type: ignore[assignment]
        self.recorded_positions = _RemotePositions(worker, bool(init.get("recovering")))  # type: ignore[assignment]
        self.recovered_from = init.get("recovered_from")
        self.env_vars = {}
        self.loop = worker.loop
        self.sync_pool = SyncPool(int(init.get("threads", 8)))
        self.slots = None
        self.listeners = []
        self.workers = None

    def copy_recovered(
        self, action_id: str, parent_id: str | None = None, position: int | None = None
    ) -> None:
        self.worker.notify("copy_recovered", (action_id, parent_id, position))

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


class Worker:
    def __init__(self, conn: Conn, init: Mapping[str, Any]) -> None:
        self.conn = conn
        self.init = init
        self.loop = asyncio.new_event_loop()
        self.pending: dict[int, concurrent.futures.Future[Any]] = {}
        self.ids = itertools.count(1)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.templates: dict[bytes, Any] = {}
        self.controller = RemoteController(self, init)
        self.where = f"worker process {os.getpid()} ({init.get('pool', '?')})"

    # ---- requests to the controller --------------------------------------------------------------
    def _request(self, kind: str, payload: Any) -> concurrent.futures.Future[Any]:
        rid = next(self.ids)
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.pending[rid] = fut
        self.conn.send(("req", rid, kind, payload))
        return fut

    async def call(self, kind: str, payload: Any) -> Any:
        ok, value = await asyncio.wrap_future(self._request(kind, payload))
        if not ok:
            raise wire.load_error(value)
        return value

    def call_blocking(self, kind: str, payload: Any) -> Any:
        """From sync code (also on the loop thread): the reader thread delivers the reply."""
        ok, value = self._request(kind, payload).result()
        if not ok:
            raise wire.load_error(value)
        return value

    def notify(self, kind: str, payload: Any) -> None:
        self.conn.send(("req", 0, kind, payload))

    # ---- the loop ----------------------------------------------------------------------------------
    def serve(self) -> None:
        threading.Thread(target=self._read, name="flyte-worker-reader", daemon=True).start()
        self.conn.send(("ready", os.getpid()))
        self.loop.run_forever()

    def _read(self) -> None:
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                _exit()
            kind = msg[0]
            if kind == "reply":
                fut = self.pending.pop(msg[1], None)
                if fut is not None:
                    fut.set_result(msg[2])
            elif kind == "run":
                self.loop.call_soon_threadsafe(self._start, msg[1], msg[2])
            elif kind == "cancel":
                self.loop.call_soon_threadsafe(self._cancel, msg[1])
            elif kind == "stop":
                _exit()

    def _start(self, action_id: str, spec: dict[str, Any]) -> None:
        self.tasks[action_id] = self.loop.create_task(self._run(action_id, spec))

    def _cancel(self, action_id: str) -> None:
        t = self.tasks.get(action_id)
        if t is not None:
            t.cancel()

    def _template(self, data: bytes) -> Any:
        tmpl = self.templates.get(data)
        if tmpl is None:
            tmpl = self.templates[data] = wire.loads(data)
        return tmpl

    async def _run(self, action_id: str, spec: dict[str, Any]) -> None:
        limit: int | None = spec.get("mem_limit")
        if len(self.tasks) == 1:
            limits.reset_peak_self()
        limits.set_data_limit(limit)
        try:
            result = await run_body(self, self.controller, action_id, spec)
            self.conn.send(("done", action_id, True, result, limits.peak_rss_self()))
        except asyncio.CancelledError:
            self.conn.send(("done", action_id, False, ("cancelled",), None))
        except MemoryError as e:
            if limit is None:
                self.conn.send(("done", action_id, False, wire.dump_error(e, self.where), None))
            else:
                self.conn.send(("done", action_id, False, ("oom", limit), limits.peak_rss_self()))
        except BaseException as e:
            self.conn.send(("done", action_id, False, wire.dump_error(e, self.where), None))
        finally:
            self.tasks.pop(action_id, None)


def _exit() -> Any:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(args[0]))
    conn = Conn(sock)
    kind, init = conn.recv()
    assert kind == "init", kind
    for p in reversed(init.get("sys_path", [])):
        if p not in sys.path:
            sys.path.insert(0, p)
    import signal

    import flyte._runtime.workers as pkg

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the controller's to handle; it stops us

    pkg.IN_WORKER = True  # a run started inside a task here stays inline (no nested worker pools)
    worker = Worker(conn, init)
    if init.get("preload"):
        try:  # import the environment's module now: module-level setup is paid before the first action
            worker._template(init["preload"])
        except Exception:
            pass  # reported with the first action that needs it
    worker.serve()


if __name__ == "__main__":
    main()
