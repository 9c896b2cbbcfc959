"""Process mode: warm worker processes per environment, driven by the controller's event loop.

``WorkerManager.run`` is what ``Controller._dispatch`` awaits for a process-mode action:

1. accelerators: refuse what no local machine has (fail fast), else note the GPUs to reserve;
2. a worker of the action's pool (environment + env vars + reuse policy + GPU request): for a
   reusable pool a free slot (``concurrency`` per replica, up to ``max_replicas``), for others an idle
   warm worker or a new one; retries prefer the worker of the previous attempt when it is alive;
3. a share of the CPU budget (the sum of running actions' CPU requests stays <= the machine's CPUs);
4. send the action; the memory watcher kills the worker if it goes above the action's limit.

A worker that dies fails only the actions it was running: above its memory limit as ``OOMError``
(a user error, so the parent can retry with more memory), otherwise as a system failure retried on a
fresh worker up to ``SYSTEM_RETRIES`` times without touching the task's own retries.

A parent waiting on children gives back its CPU share and, in a reusable pool, lends its replica slot
(its event loop is idle), so children using the parent's own environment never starve.
"""

from __future__ import annotations

import asyncio
import collections
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
import warnings
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from flyte._resources import Device
from flyte._reusable import ReusePolicy
from flyte._runtime.controller import ActionState
from flyte._runtime.placement import limits, wire
from flyte._runtime.placement.gpus import GpuPool, discover, matches, refuse_reason
from flyte._runtime.placement.remote import RequestHandler, run_fields
from flyte._runtime.placement.wire import HEADER, VALUE, put_value, small_plain, template_bytes
from flyte.errors import (
    AcceleratorUnavailableError,
    ActionAbortedError,
    AppleSiliconNotAvailableError,
    InvalidParameterError,
    NonRecoverableError,
    OOMError,
    WorkerCrashedError,
)

if TYPE_CHECKING:
    from flyte._runtime.controller import Controller
    from flyte._task import TaskTemplate


def _env_number(name: str, default: float, kind: type[int] | type[float] = int) -> Any:
    """A worker setting from the environment: a number >= 0, or a clear error naming the variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        value = -1
    if not value >= 0:  # (NaN too)
        what = "a whole number" if kind is int else "a number"
        raise InvalidParameterError("environment", name, raw, f"Set it to {what} >= 0, or unset it.")
    return value


SYSTEM_RETRIES: int = _env_number("FLYTE_SYSTEM_RETRIES", 2)
"""Fresh-worker retries after a crash, not counted against the task's ``retries``."""
SPAWN_TIMEOUT: float = _env_number("FLYTE_WORKER_START_TIMEOUT", 120, float)
IDLE_TTL: float = _env_number("FLYTE_WORKER_IDLE_TTL", 60, float)
"""Idle warm workers of non-reusable environments stop after this many seconds (or at run end)."""
PREFETCH_S: float = _env_number("FLYTE_WORKER_PREFETCH_MS", 5, float) / 1000
"""A worker of a non-reusable pool is sent the next queued action of its task while it runs one, when
that task's actions take less than this (send to result, a moving average): the worker starts it as
soon as the current one ends, without waiting for the driver (0 turns it off; see ``_prefetch``)."""
AHEAD: int = _env_number("FLYTE_WORKER_AHEAD", 3) if PREFETCH_S > 0 else 0
"""How many actions a worker may be sent ahead of the one it runs."""
REFILL: int = max(1, min(_env_number("FLYTE_WORKER_REFILL", 2), AHEAD or 1))
"""A worker's actions sent ahead are topped up only once this many places are free there: each send
is a system call that wakes the worker, so a fan-out sends two in one write instead of one per result
(issue 20); 1 tops up after every result."""
MAX_IDLE: int | None = _env_number("FLYTE_WORKER_MAX_IDLE", 0) or None
"""At most this many idle workers of non-reusable environments are kept (default: 4 x CPUs, >= 8)."""
STOP_GRACE_S = 1.0
"""At run end a worker gets this long to exit on its own after the stop message (its output flushed),
then SIGKILL: ``WorkerManager.close`` returns within about this, however busy the workers are."""


class _WorkerLost(Exception):
    """The worker running an action died; ``oom`` = (limit, peak) when the memory watcher killed it."""

    def __init__(self, message: str, oom: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.oom = oom


class WorkerProc:
    """One worker process: its socket, the actions it runs and the GPUs it owns."""

    def __init__(
        self,
        pool: Pool,
        proc: subprocess.Popen[bytes],
        link: _Link,
        gpus: list[int],
    ) -> None:
        self.pool = pool
        self.proc = proc
        self.pid = proc.pid
        self.link = link
        self.writer: asyncio.Transport = link.transport
        self.gpus = gpus
        self.templates: set[int] = set()  # IDs of the templates this worker has received
        self.results: dict[str, asyncio.Future[tuple[bool, Any, int | None]]] = {}
        self.active: dict[str, int | None] = {}  # action ID -> its memory limit
        self.waiting = 0  # active parents waiting on children: their slots are lent
        self.cancelling: set[str] = set()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.up = False  # said it is ready (``ready`` has its result): a flag, read per action by pick
        self.alive = True
        self.stopping = False
        self.last_used = time.monotonic()
        self.watched: limits.Watched | None = None
        self.ahead: collections.deque[_Inflight] = collections.deque()  # sent ahead (see _prefetch)

    def usable(self) -> bool:
        return self.alive and not self.stopping and self.up

    def load(self) -> int:
        return len(self.active) - (self.waiting if self.pool.policy is not None else 0)

    def send(self, msg: Any) -> None:
        if self.alive and not self.writer.is_closing():
            self.writer.write(wire.frame(msg))

    def write(self, data: bytes) -> None:
        """Framed messages, in one write (one system call while the socket's buffer has room)."""
        if data and self.alive and not self.writer.is_closing():
            self.writer.write(data)

    def stop(self) -> None:
        """Ask the worker to exit and close the socket (it also exits on EOF), without waiting."""
        self.stopping = True
        if not self.writer.is_closing():
            self.send(("stop",))  # written at once when the socket buffer is empty
            sock = self.writer.get_extra_info("socket")
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)  # EOF now, even if the loop never runs again
            except OSError:
                pass
            self.writer.close()

    def kill(self) -> None:
        self.stopping = True
        try:
            self.proc.kill()
        except OSError:
            pass

    def update_limit(self) -> None:
        """The memory watcher's limit: the largest of the running actions' limits (None: unlimited)."""
        if self.watched is None:
            return
        if len(self.active) <= 1:  # a worker of a non-reusable pool: its one action's limit (or none)
            self.watched.limit = next(iter(self.active.values()), None)
            return
        vals = list(self.active.values())  # (no generator per call: a fan-out's replica or sent-ahead)
        if None in vals:  # an action without a limit: none
            self.watched.limit = None
        elif 0 in vals:  # (zeros are left out of the largest)
            self.watched.limit = max(v for v in vals if v)
        else:
            self.watched.limit = max(cast("list[int]", vals))  # (no None, checked above)


_READ_SIZE = 1 << 16  # the link's read buffer; a bigger message gets one of its own size
_length_at = struct.Struct(">Q").unpack_from  # a message's header (wire.HEADER bytes, big-endian)
_loads = pickle.loads


class _Link(asyncio.BufferedProtocol):
    """The driver's end of a worker's socket. Every whole message of a read is handled straight from
    the loop's read callback: no reader task woken per message, no ``StreamReader`` (issue 20).

    A buffered protocol, so the loop reads into one buffer kept for the link (``recv_into``): with a
    plain ``Protocol`` asyncio reads with a fresh 256 KiB ``bytes`` per read, which glibc maps,
    shrinks and unmaps (``mmap``, ``mremap``, ``munmap``: ~18 µs a read on a 2-vCPU VM, most of it
    the unmapping), and that per result of a process chain step."""

    def __init__(self, manager: WorkerManager) -> None:
        self.manager = manager
        self.worker: WorkerProc | None = None
        self.transport: asyncio.Transport
        self._buf = bytearray(_READ_SIZE)
        self._start = 0  # first byte not yet handled
        self._end = 0  # end of the bytes received
        self._ready: Any = None  # the loop's run queue (wire.run_queue), for buffer_updated

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._ready = wire.run_queue(asyncio.get_running_loop())

    def attach(self, w: WorkerProc) -> None:
        self.worker = w
        if self._end:
            ready, self._ready = self._ready, None  # called from a task: nothing runs from here
            try:
                self.buffer_updated(0)
            finally:
                self._ready = ready

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._buf)[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        end = self._end = self._end + nbytes
        w = self.worker
        if w is None:
            self._keep_room(self._start, end)
            return  # nothing comes before the init message it answers; kept until attach
        buf = self._buf
        pos = self._start
        ready = self._ready
        before = len(ready) if ready is not None else -1
        if not pos and HEADER < end <= _READ_SIZE and HEADER + _length_at(buf, 0)[0] == end:
            # One whole small message at the front, nothing after it (a chain step's result): no view,
            # no loop, no _keep_room; the buffer was not replaced (a big one holds a big message)
            msg = _loads(buf[HEADER:end])
            self._end = 0  # handled: the next read starts at the front (even if handling it raises)
            if msg[0] == "done":  # (_on_message's first case, without its call)
                self.manager._on_done(w, msg[1], msg[2], msg[3], msg[4])
            else:
                self.manager._on_message(w, msg)
            if before == 0:
                wire.step_now(ready, before)  # see below
            return
        view = memoryview(buf)
        loads = _loads
        on_message = self.manager._on_message
        count = 0
        try:
            while end - pos >= HEADER:
                stop = pos + HEADER + _length_at(buf, pos)[0]
                if stop > end:
                    break
                msg = loads(view[pos + HEADER : stop])
                pos = stop
                on_message(w, msg)
                count += 1
        finally:
            view.release()
            self._keep_room(pos, end)
        if count == 1 and before == 0:
            # One message, and nothing else was ready to run: the step it scheduled (the awaiting
            # action's coroutine, woken by its result) runs in this turn, as it would have alone in
            # the next (issue 20). Several results in one read wait for their turn together, as before.
            wire.step_now(ready, before)

    def _keep_room(self, start: int, end: int) -> None:
        """Bytes ``start:end`` are not handled yet: make sure the next read can go on after them, and
        that the message they begin fits. The buffer is replaced, never resized: the loop may still
        hold a view of it."""
        if start == end:  # all handled (the usual case): the next read starts at the front
            self._start = self._end = 0
            if len(self._buf) > _READ_SIZE:
                self._buf = bytearray(_READ_SIZE)  # a big message's buffer goes with it
            return
        buf = self._buf
        rest = end - start
        need = HEADER + _length_at(buf, start)[0] if rest >= HEADER else HEADER
        if start + need <= len(buf) and end < len(buf):
            self._start = start
            return
        bigger = bytearray(max(_READ_SIZE, need))
        bigger[:rest] = buf[start:end]
        self._buf, self._start, self._end = bigger, 0, rest

    def connection_lost(self, exc: Exception | None) -> None:
        if self.worker is not None:
            self.manager._on_closed(self.worker)


class Pool:
    """The warm workers of one environment (per env vars, reuse policy and GPU request)."""

    def __init__(
        self,
        label: str,
        policy: ReusePolicy | None,
        env_vars: dict[str, str],
        gpu: Device | None,
        cpu_fallback: bool,
    ) -> None:
        self.label = label
        self.policy = policy
        self.env_vars = env_vars
        self.gpu = gpu
        self.cpu_fallback = cpu_fallback
        self.capacity = policy.concurrency if policy is not None else 1
        self.max_workers = policy.max_replicas if policy is not None else None
        self.workers: list[WorkerProc] = []
        self.spawning = 0
        self.unclaimed = 0  # pre-warm spawns in progress that no action has claimed
        self.last_activity = time.monotonic()
        self.preload: bytes | None = None  # a task of the pool: imported at start, so replicas are warm
        self._waiters: list[asyncio.Future[None]] = []

    def live(self) -> list[WorkerProc]:
        return [w for w in self.workers if w.alive and not w.stopping]

    def pick(self, prefer: WorkerProc | None) -> WorkerProc | None:
        """``prefer`` when it has a free slot, else the fullest worker with one (pack), the most
        recently used (warmest) among equals. One pass, no list: this runs once per action."""
        cap = self.capacity
        lends = self.policy is not None
        if cap == 1 and not lends:  # one action per worker: the free one used last (or prefer)
            best1: WorkerProc | None = None
            last = -1.0
            for w in self.workers:
                if w.active or not w.up or not w.alive or w.stopping:
                    continue
                if w is prefer:
                    return w
                if w.last_used > last:
                    best1, last = w, w.last_used
            return best1
        best: WorkerProc | None = None
        best_key: tuple[int, float] = (0, 0.0)
        for w in self.workers:
            if not (w.up and w.alive and not w.stopping):  # usable(), inlined: once per worker per action
                continue
            load = len(w.active) - (w.waiting if lends else 0)
            if load >= cap:
                continue
            if w is prefer:
                return w
            key = (load, w.last_used)
            if best is None or key > best_key:
                best, best_key = w, key
        return best

    async def wait(self) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    def release(self, w: WorkerProc, action_id: str) -> None:
        active = w.active
        active.pop(action_id, None)
        w.results.pop(action_id, None)
        w.last_used = self.last_activity = time.monotonic()
        if not active and w.watched is not None:  # idle: no limit (update_limit)
            w.watched.limit = None
        else:
            w.update_limit()
        if self._waiters:
            self.notify()


class _Inflight:
    """A process-mode action being run, as the controller's handlers of its requests see it, and what
    it needs to be sent (kept here so a freed CPU share can send it from a callback, issue 20)."""

    __slots__ = (
        "children",
        "custom",
        "done",
        "entry",
        "fresh",
        "fut",
        "group",
        "holds_cpu",
        "inputs",
        "limit",
        "mgr",
        "pool",
        "prefer",
        "sent",
        "state",
        "tb",
        "tid",
        "tmpl",
        "weight",
        "worker",
    )
    pool: Pool
    tmpl: TaskTemplate[Any, Any]
    inputs: dict[str, Any]
    group: str | None
    custom: dict[str, str]
    limit: int | None
    fresh: bool
    prefer: WorkerProc | None
    tb: bytes  # the template's wire bytes (template_bytes) and their ID in the run (_plan)
    tid: int
    fut: asyncio.Future[Any]
    mgr: WorkerManager

    def __init__(
        self,
        state: ActionState,
        plan: tuple[Any, Pool, int | None, float, bytes, int],
        inputs: dict[str, Any],
        group: str | None,
        custom: dict[str, str],
        fresh: bool,
        prefer: WorkerProc | None,
    ) -> None:
        self.state = state
        self.tmpl, self.pool, self.limit, self.weight, self.tb, self.tid = plan  # see _plan
        self.inputs = inputs
        self.group = group
        self.custom = custom
        self.fresh = fresh
        self.prefer = prefer
        self.worker: WorkerProc | None = None
        self.children = 0
        self.holds_cpu = False
        self.done = False
        self.entry: tuple[float, Any] | None = None  # its place in the CPU queue while it waits
        self.sent = 0.0  # when it was sent (or, sent ahead, handed its share): for the body's average

    def __call__(self) -> None:
        """Its CPU share was granted (it waits in the CPU queue as this callable)."""
        self.mgr._granted(self)


_NO_WORKER = ("no worker",)
"""What a waiting action's future gets when its CPU share came but no warm worker was free: the
action's coroutine then starts (or waits for) one itself."""


def _take(pool: Pool, aid: str, prefer: WorkerProc | None, limit: int | None) -> WorkerProc | None:
    """A free slot of a warm worker, taken for ``aid`` (None: ``WorkerManager._acquire`` waits for one
    or starts a worker)."""
    w = pool.pick(prefer)
    if w is not None:
        active = w.active
        active[aid] = limit
        if len(active) == 1 and w.watched is not None:  # its one action's limit (update_limit)
            w.watched.limit = limit
        else:
            w.update_limit()
    return w


def _requests(tmpl: TaskTemplate[Any, Any]) -> tuple[int | None, float | None]:
    """(memory limit, CPU request) of a task, parsed once per template (not once per action)."""
    d = tmpl.__dict__
    got = d.get("_proc_requests")
    if got is None:
        r = tmpl.resources
        got = d["_proc_requests"] = (
            (r.memory_limit_bytes(), r.cpu_request()) if r is not None else (None, None)
        )
    return got  # type: ignore[no-any-return]


class WorkerManager(RequestHandler):
    """All worker pools of one run, plus the CPU budget, the GPUs and the memory watcher."""

    def __init__(self, controller: Controller, *, max_cpus: float | None) -> None:
        super().__init__(controller)
        env_cpus = os.environ.get("FLYTE_MAX_CPUS")
        total = max_cpus if max_cpus is not None else (float(env_cpus) if env_cpus else limits.local_cpus())
        self.cpus = limits.CpuBudget(total)
        self.watch = limits.MemoryWatch()
        self.pools: dict[tuple[Any, ...], Pool] = {}
        self.inflight: dict[str, _Inflight] = {}
        self.affinity: dict[str, WorkerProc] = {}
        self.procs: dict[subprocess.Popen[bytes], WorkerProc | None] = {}
        self._gpus: GpuPool | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._limits_text = ""
        self._pseudo = ActionState(action_id="", task_name="<workers>")
        self._template_ids: dict[bytes, int] = {}
        self._plans: dict[int, tuple[Any, Pool, int | None, float, bytes, int]] = {}  # see _plan
        self._body_s: dict[int, tuple[Any, float]] = {}  # id(template) -> (template, seconds): _prefetch
        self.closing = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the run's loop (see _get_loop)
        wire.alias_main()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, kept: ``get_running_loop`` is a ``getpid`` system call on 3.11."""
        loop = self._loop = asyncio.get_running_loop()
        return loop

    # ---- running an action -------------------------------------------------------------------------
    async def run(
        self,
        tmpl: TaskTemplate[Any, Any],
        child: ActionState,
        inputs: dict[str, Any],
        group: str | None,
        custom: dict[str, str],
    ) -> Any:
        plan = self._plans.get(id(tmpl))
        if plan is None or plan[0] is not tmpl:
            plan = self._plan(tmpl)
        _, pool, limit, weight, _, _ = plan
        c = self.c
        if child.attempt == 0 and (c.recorded or c.recorded_positions):  # a recovery only
            adopted = await self._adopt(tmpl, child)
            if adopted is not None:
                return self._result(tmpl, pool, *adopted)
        failures = 0
        while True:
            try:
                # One try, in this frame (no coroutine of its own: two resumes per action pass here)
                fresh = failures == 0 and child.attempt == 0 and not c.recorded_positions
                aid = child.action_id
                prefer = self.affinity.get(aid) if self.affinity else None
                inf = _Inflight(child, plan, inputs, group, custom, fresh, prefer)
                inf.fut = (self._loop or self._get_loop()).create_future()
                cpus = self.cpus
                try:
                    # Without waiting where it can (a free slot, CPU to spare): no coroutine per step.
                    if pool.policy is not None:  # bounded slots first, then CPU (see the module docstring)
                        inf.worker = _take(pool, aid, prefer, limit) or await self._acquire(
                            pool, aid, prefer, limit, child
                        )
                        if not cpus.try_acquire(weight):
                            self.c.mark_queued(child)
                            await cpus.acquire(weight)
                        inf.holds_cpu = True
                        self._launch(inf, inf.worker)
                    elif cpus.try_acquire(weight):  # CPU first: it bounds an unbounded pool's workers
                        inf.holds_cpu = True
                        inf.worker = _take(pool, aid, prefer, limit) or await self._acquire(
                            pool, aid, prefer, limit, child
                        )
                        self._launch(inf, inf.worker)
                    else:
                        # Queued for a CPU share: the share, when freed, sends the action from the
                        # releasing callback (``_granted``); this coroutine wakes only for the result.
                        self.c.mark_queued(child)
                        inf.mgr = self
                        inf.entry = cpus.enqueue(weight, inf)
                        if AHEAD and len(cpus._waiters) == 1 and pool.policy is None:
                            self._send_ahead_to_any(pool)
                    while True:
                        try:
                            got = await inf.fut
                        except asyncio.CancelledError:
                            if inf.worker is not None and inf in inf.worker.ahead:
                                self._cancel_sent_ahead(inf.worker, inf)
                            elif inf.worker is not None and aid in inf.worker.results:
                                self._cancel_on_worker(inf.worker, aid, tmpl.is_sync)
                            elif not inf.holds_cpu and inf.entry is not None:
                                cpus.drop(inf.entry)
                            raise
                        if got is not _NO_WORKER:
                            break
                        inf.worker = await self._acquire(pool, aid, prefer, limit, child)
                        inf.fut = asyncio.get_running_loop().create_future()
                        self._launch(inf, inf.worker)
                    ok, payload, peak = got
                    if ok:  # no retry follows: nothing to prefer a worker for (a long run's memory)
                        if prefer is not None:
                            self.affinity.pop(aid, None)
                    elif inf.worker is not None:  # its retry prefers this worker (when it is alive)
                        self.affinity[aid] = inf.worker
                finally:
                    if child.queued:  # (Controller.unqueue's test: no call per action)
                        c.unqueue(child)  # cancelled while it waited: its end (ABORTED) follows
                    inf.done = True
                    if self.inflight.get(aid) is inf:
                        del self.inflight[aid]
                    w = inf.worker
                    if w is not None and aid not in w.cancelling:
                        pool.release(w, aid)  # before the CPU: the action it is granted to takes w
                    if inf.holds_cpu:
                        inf.holds_cpu = False
                        c.mark_released(child)  # first: the release may start the next at once
                        cpus.release(weight)
                    if c.listeners:
                        self._limits_changed()
                if ok:
                    if type(payload) is tuple and payload[0] == VALUE:  # wire.out_value's usual case
                        return payload[1]
                    return wire.out_value(c.store, payload)
                return self._result(tmpl, pool, ok, payload, peak)
            except _WorkerLost as lost:
                self.c._abort_orphans(child)  # children of the lost attempt: its retry calls them again
                if lost.oom is not None:
                    raise OOMError(_oom_message(tmpl, pool, *lost.oom)) from None
                failures += 1
                if failures > SYSTEM_RETRIES:
                    raise WorkerCrashedError(
                        f"{lost} Gave up after {failures} tries on fresh workers (FLYTE_SYSTEM_RETRIES="
                        f"{SYSTEM_RETRIES})."
                    ) from None
                warnings.warn(
                    f"{lost} Retrying on a fresh worker (system retry {failures}/{SYSTEM_RETRIES}; the "
                    "task's own retries are not used).",
                    RuntimeWarning,
                    stacklevel=2,
                )

    def _plan(self, tmpl: TaskTemplate[Any, Any]) -> tuple[Any, Pool, int | None, float, bytes, int]:
        """(template, pool, memory limit, CPU weight, wire bytes, their ID) of a task. Kept per
        template when it asks for no GPU (the GPU check looks at what is free now): a chain's steps
        skip the pool's key, and ``_send`` the template's bytes and their lookup."""
        gpu, fallback = self._gpu_request(tmpl)
        try:
            tb = template_bytes(tmpl)
        except Exception as e:
            raise NonRecoverableError(
                f"Task {tmpl.name!r} cannot run in a worker process: its template does not pickle "
                f"({type(e).__name__}: {e}). Run it inline (with_runcontext(isolation='inline'))."
            ) from e
        pool = self._pool(tmpl, gpu, fallback)
        limit, cpu = _requests(tmpl)
        tid = self._template_ids.setdefault(tb, len(self._template_ids))
        plan = (tmpl, pool, limit, self.cpus.weight(cpu, pool.capacity), tb, tid)
        if gpu is None and not fallback:
            self._plans[id(tmpl)] = plan  # the template is held: its id is not reused meanwhile
        return plan

    def _granted(self, inf: _Inflight) -> None:
        """A queued action's CPU share (already taken for it): send it to a free warm worker now, from
        the callback that freed the share, or tell its coroutine to get a worker."""
        inf.holds_cpu = True
        inf.entry = None
        fut = inf.fut
        if fut.done():  # cancelled meanwhile: its coroutine gives the share back
            return
        w = _take(inf.pool, inf.state.action_id, inf.prefer, inf.limit)
        if w is None:
            fut.set_result(_NO_WORKER)
            return
        inf.worker = w
        try:
            self._launch(inf, w)
        except Exception as e:
            if not fut.done():
                fut.set_exception(e)

    def _launch(self, inf: _Inflight, w: WorkerProc) -> None:
        """Send the admitted action (its worker slot and CPU share taken) to ``w``."""
        child = inf.state
        aid = child.action_id
        if child.queued or child.released:  # (Controller.mark_admitted's tests: no call per action)
            self.c.mark_admitted(child)
        self.inflight[aid] = inf
        if self.c.listeners:
            self._limits_changed()
        data = self._send(inf, w, False)
        w.results[aid] = inf.fut
        if self.cpus._waiters and AHEAD:
            data += self._prefetch(w, inf)
        w.write(data)

    def _prefetch(self, w: WorkerProc, cur: _Inflight) -> bytes:
        """Send ``w`` the first actions of the CPU queue ahead (up to ``AHEAD``), while it runs
        ``cur`` (issue 20: the worker starts each when the one before ends, without a round trip
        through the driver); returns their ``run`` messages, for the caller's one write.

        An action sent ahead holds no CPU share while it waits there: it takes over ``cur``'s, which
        is why it must be the head of the queue (FIFO kept), ask for the same share and memory limit,
        and ``cur`` must hold its share (a parent waiting on children has given it back). The worker
        runs them one at a time, so the shares of what runs never exceed the budget; the driver
        moves the share from one to the next when a result arrives (``_handoff``). Only for a
        non-reusable pool (one action per worker) and an async task whose actions are quick (a long
        one would keep the next waiting behind it while other workers free up); a sync body could
        not be stopped if it is cancelled meanwhile."""
        pool = w.pool
        if (
            pool.policy is not None
            or pool.gpu is not None
            or not cur.holds_cpu
            or cur.children
            or not w.alive
            or w.stopping
        ):
            return b""
        data = b""
        ahead = w.ahead
        while len(ahead) < AHEAD:
            nxt = self.cpus.head()
            if (
                type(nxt) is not _Inflight
                or nxt.pool is not pool
                or nxt.weight != cur.weight
                or nxt.limit != cur.limit
                or (nxt.prefer is not None and nxt.prefer is not w)
                or nxt.fut.done()
                or nxt.tmpl.is_sync
            ):
                break
            body = self._body_s.get(id(nxt.tmpl))
            if body is None or body[0] is not nxt.tmpl or body[1] >= PREFETCH_S:
                break
            self.cpus.take_head()
            aid = nxt.state.action_id
            nxt.entry = None
            try:
                data += self._send(nxt, w, True)
            except BaseException as e:
                if not nxt.fut.done():
                    nxt.fut.set_exception(e)
                break
            nxt.worker = w
            ahead.append(nxt)
            self.inflight[aid] = nxt  # it may start (and send requests) before it takes the share
        return data

    def _send_ahead_to_any(self, pool: Pool) -> None:
        """The CPU queue's new head: sent ahead to a worker of ``pool`` that runs one like it, if any
        (the fan-out's first queued actions; later ones are sent ahead as results come back)."""
        for w in pool.workers:
            if len(w.ahead) < AHEAD and len(w.active) == 1:
                cur = self.inflight.get(next(iter(w.active)))
                if cur is not None and cur.worker is w:
                    w.write(self._prefetch(w, cur))
                    if not self.cpus._waiters:
                        return

    def _handoff(self, w: WorkerProc, aid: str, nxt: _Inflight) -> None:
        """``aid`` ended on ``w``, which then started ``nxt`` (sent ahead): ``nxt`` takes its share
        and its slot, and the worker is sent the next one ahead."""
        w.ahead.popleft()
        cur = self.inflight.get(aid)
        if cur is not None and cur.holds_cpu:
            cur.holds_cpu = False  # its coroutine, woken by the result, gives back nothing
            self.c.mark_released(cur.state)
        else:  # cannot happen (see _prefetch, _child_started); keep the budget's sum right anyway
            self.cpus.used += nxt.weight
        b = nxt.state
        nxt.holds_cpu = True
        w.active[b.action_id] = nxt.limit
        w.results[b.action_id] = nxt.fut
        self.c.mark_admitted(b)
        nxt.sent = time.perf_counter()
        if self.cpus._waiters and AHEAD - len(w.ahead) >= REFILL:
            w.write(self._prefetch(w, nxt))

    def _take_back(self, w: WorkerProc) -> None:
        """The actions sent ahead to ``w`` go back to the head of the CPU queue, in their order (``w``
        died or is killed, or its running action gave its share back): they run on the next shares
        freed."""
        while w.ahead:
            nxt = w.ahead.pop()
            aid = nxt.state.action_id
            if self.inflight.get(aid) is nxt:
                del self.inflight[aid]
            if self.affinity.get(aid) is w:
                del self.affinity[aid]
            nxt.worker = nxt.prefer = None
            nxt.fresh = False  # it may have started there: its claim must not be taken as the first
            if not nxt.fut.done():
                nxt.entry = (nxt.weight, nxt)
                self.cpus.push_front(nxt.entry)
        self.cpus.release(0.0)  # grant what is free now

    def _cancel_sent_ahead(self, w: WorkerProc, inf: _Inflight) -> None:
        """Cancel an action sent ahead to ``w``: the worker drops it, or cancels it if it started, and
        answers with a cancelled result (which frees nothing: it held no share yet)."""
        w.ahead.remove(inf)
        aid = inf.state.action_id
        if self.inflight.get(aid) is inf:
            del self.inflight[aid]
        w.cancelling.add(aid)
        w.send(("cancel", aid))

    def _send(self, inf: _Inflight, w: WorkerProc, after: bool) -> bytes:
        """The ``run`` message of ``inf`` for ``w``, framed (``after``: the worker starts it when the
        running one ends)."""
        child = inf.state
        aid = child.action_id
        tmpl = inf.tmpl
        inputs: Any = inf.inputs
        if not small_plain(inputs):  # else the dict rides in the message itself (one pickle, issue 20)
            try:
                enc_inputs = wire.dumps(inputs)
            except Exception as e:
                raise NonRecoverableError(
                    f"The inputs of task {tmpl.name!r} cannot be sent to a worker process "
                    f"({type(e).__name__}: {e}). Run it inline (with_runcontext(isolation='inline'))."
                ) from e
            inputs = put_value(self.c.store, self.c.run_prefix, aid, enc_inputs)
        if not w.alive:  # it died while this action waited for CPU
            raise _WorkerLost(f"The worker process {w.pid} of environment {w.pool.label!r} died.")
        tid = inf.tid
        templates = w.templates
        if tid in templates:
            tb = None  # the bytes once per worker, then only their ID
        else:
            templates.add(tid)
            tb = inf.tb
        spec = {
            "tmpl": tb,
            "tmpl_id": tid,
            "inputs": inputs,
            "attempt": child.attempt,
            "task_name": tmpl.name,
            "mem_limit": inf.limit,
            "fresh": inf.fresh,  # no earlier try of it wrote a claim or outcome (see adopt.write_lease)
        }
        if inf.group is not None or inf.custom:  # left out when unset: less to pickle per action
            spec["group"] = inf.group
            spec["custom"] = inf.custom
        if after:
            spec["after"] = True
        inf.sent = time.perf_counter()
        return wire.frame(("run", aid, spec))

    def _result(
        self, tmpl: TaskTemplate[Any, Any], pool: Pool, ok: bool, payload: Any, peak: int | None
    ) -> Any:
        if ok:
            return wire.out_value(self.c.store, payload)
        if isinstance(payload, tuple):
            if payload[0] == "oom":
                raise OOMError(_oom_message(tmpl, pool, payload[1], peak, allocation=True))
            raise ActionAbortedError(f"Task {tmpl.name!r} was cancelled in its worker process.")
        raise wire.load_error(payload)

    async def _adopt(
        self, tmpl: TaskTemplate[Any, Any], child: ActionState
    ) -> tuple[bool, Any, int | None] | None:
        """Recovery: the outcome of this action from a worker of the crashed driver, if it has one or
        still runs it (see ``adopt``); None: run it."""
        rec = self.c.recorded.get(child.action_id)
        if rec is not None and rec.status not in ("RUNNING", "QUEUED"):  # QUEUED: maybe sent ahead
            return None
        if rec is None and not self.c.recorded_positions:
            return None  # not a recovery of this run (a crash may still precede the action's record)
        from flyte._runtime.placement import adopt

        got = await adopt.adopt(self.c.store, self.c.run_prefix, child.action_id, tmpl.name)
        if got is None:
            return None
        how, outcome = got
        self.c.journal.action_adopted(self.c.run_name, child.action_id, how)
        return outcome

    async def _acquire(
        self, pool: Pool, aid: str, prefer: WorkerProc | None, limit: int | None, child: ActionState
    ) -> WorkerProc:
        while True:
            w = pool.pick(prefer)
            if w is None:
                n = len(pool.live()) + pool.spawning
                full = pool.max_workers is not None and n >= pool.max_workers
                if full or pool.unclaimed > len(pool._waiters):
                    self.c.mark_queued(child)  # every replica busy: wait for one
                    await pool.wait()
                    continue
                gpus: list[int] = []
                if pool.gpu is not None:
                    taken = self._gpu_pool().try_take(pool.gpu)
                    if taken is None:  # wait for a release (or a worker of this pool to free up)
                        self.c.mark_queued(child)
                        self._evict_idle_gpu_workers(pool.gpu)
                        await pool.wait()
                        continue
                    gpus = taken
                w = await self._spawn(pool, gpus)
                pool.workers.append(w)
                pool.notify()
            w.active[aid] = limit
            w.update_limit()
            return w

    def _cancel_on_worker(self, w: WorkerProc, aid: str, is_sync: bool) -> None:
        """A cancelled action (timeout, parent ended): stop it in its worker.

        A sync body cannot be interrupted, so a worker running only it is killed (also any worker
        of a non-reusable pool: a fresh one is cheap); an async action on a replica is cancelled
        there, and the replica is killed if it does not confirm within 5 s.
        """
        if not w.alive:
            return
        alone = len(w.active) <= 1
        if alone and (is_sync or w.pool.policy is None):
            w.kill()
            return
        w.cancelling.add(aid)  # the slot frees when the worker confirms
        w.send(("cancel", aid))

        if is_sync:
            return  # its thread runs to its end; the others on this replica keep going

        def overdue() -> None:
            if aid in w.cancelling and w.alive:
                w.kill()

        asyncio.get_running_loop().call_later(5.0, overdue)

    # ---- pools and workers -------------------------------------------------------------------------
    def _pool(self, tmpl: TaskTemplate[Any, Any], gpu: Device | None, fallback: bool) -> Pool:
        env_vars = dict(tmpl.env_vars)
        key = (tmpl.env_name or tmpl.name, tuple(sorted(env_vars.items())), tmpl.reusable, gpu, fallback)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = Pool(tmpl.env_name or tmpl.name, tmpl.reusable, env_vars, gpu, fallback)
            pool.preload = template_bytes(tmpl)
            if pool.policy is not None:
                for _ in range(pool.policy.min_replicas):
                    self._spawn_task(self._prewarm(pool))
            if self._reaper is None:
                self._reaper = self._spawn_task(self._reap_idle())
        return pool

    async def _prewarm(self, pool: Pool) -> None:
        gpus: list[int] = []
        if pool.gpu is not None:
            taken = self._gpu_pool().try_take(pool.gpu)
            if taken is None:
                return  # no GPUs free now: the first action that needs a replica waits for them
            gpus = taken
        pool.unclaimed += 1
        try:
            w = await self._spawn(pool, gpus)
        except Exception:
            return  # an action that needs a worker starts one itself and reports the error
        finally:
            pool.unclaimed -= 1
            pool.notify()
        pool.workers.append(w)
        pool.notify()

    async def _spawn(self, pool: Pool, gpus: list[int]) -> WorkerProc:
        """Start a worker that owns ``gpus`` (from then on, ``_lost`` gives them back)."""
        pool.spawning += 1
        try:
            return await self._start_process(pool, gpus)
        finally:
            pool.spawning -= 1

    async def _start_process(self, pool: Pool, gpus: list[int]) -> WorkerProc:
        from flyte._runtime.codec import PICKLE_KEY_ENV, pickle_key

        env = dict(os.environ)
        env.update(pool.env_vars)
        env[PICKLE_KEY_ENV] = pickle_key().decode()  # workers verify what the controller signed
        env.setdefault("PYTHONUNBUFFERED", "1")  # task output in order with the controller's
        if pool.gpu is not None or pool.cpu_fallback:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpus)
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # CUDA's indices = nvidia-smi's
        try:
            parent_sock, child_sock = socket.socketpair()
            fd = child_sock.fileno()
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "flyte._runtime.placement.worker_main", str(fd)],
                    pass_fds=(fd,),
                    env=env,
                    start_new_session=True,  # its actions outlive a killed driver (issue 23: adoption)
                )
            finally:
                child_sock.close()
            self.procs[proc] = None
            try:
                _, link = await asyncio.get_running_loop().create_connection(
                    lambda: _Link(self), sock=parent_sock
                )
            except BaseException:
                proc.kill()
                raise
        except BaseException:
            if gpus:
                self._gpu_pool().release(gpus)
            raise
        w = self.procs[proc] = WorkerProc(pool, proc, link, gpus)
        w.watched = self.watch.add(proc.pid)
        w.send(
            (
                "init",
                {
                    "sys_path": [p for p in sys.path if p],
                    **run_fields(self.c),
                    "pool": pool.label,
                    "threads": pool.capacity + 4,
                    "preload": pool.preload,
                },
            )
        )
        link.attach(w)
        try:
            async with asyncio.timeout(SPAWN_TIMEOUT):  # not wait_for: it can lose a cancel on 3.11
                await asyncio.shield(w.ready)
        except TimeoutError:
            w.kill()
            raise _WorkerLost(
                f"A worker process for environment {pool.label!r} did not start within {SPAWN_TIMEOUT:g}s."
            ) from None
        except BaseException:
            if not w.ready.done():
                w.kill()
            raise
        self._limits_changed()
        return w

    def _on_message(self, w: WorkerProc, msg: Any) -> None:
        kind = msg[0]
        if kind == "done":
            self._on_done(w, msg[1], msg[2], msg[3], msg[4])
        elif kind == "req":
            self._spawn_task(self._handle(w, msg[1], msg[2], msg[3]))  # FIFO: keeps call order
        elif kind == "ready" and not w.ready.done():
            w.up = True
            w.ready.set_result(None)

    def _on_closed(self, w: WorkerProc) -> None:
        if w.alive and not self.closing:
            self._spawn_task(self._reap_lost(w))
        else:
            self._lost(w)

    async def _reap_lost(self, w: WorkerProc) -> None:
        """The socket closed: give the process a moment to exit, for its status."""
        try:
            for _ in range(200):
                if w.proc.poll() is not None:
                    break
                await asyncio.sleep(0.005)
        finally:
            self._lost(w)

    def _on_done(self, w: WorkerProc, aid: str, ok: bool, payload: Any, peak: int | None) -> None:
        inf = self.inflight.get(aid)
        if inf is not None and inf.sent:  # how long its actions take, for _prefetch
            tmpl = inf.tmpl
            had = self._body_s.get(id(tmpl))
            # Kept up while actions queue for CPU (where _prefetch reads it) or it is not below the
            # prefetch bound yet (a first, cold action): a quick sequential chain stops measuring
            if had is None or had[0] is not tmpl:
                self._body_s[id(tmpl)] = (tmpl, time.perf_counter() - inf.sent)
            elif self.cpus._waiters or had[1] >= PREFETCH_S:
                self._body_s[id(tmpl)] = (tmpl, 0.8 * had[1] + 0.2 * (time.perf_counter() - inf.sent))
        if w.ahead and aid in w.active and aid not in w.cancelling:
            self._handoff(w, aid, w.ahead[0])  # the one it ran: the worker has started the next
        if aid in w.cancelling:
            w.cancelling.discard(aid)
            w.pool.release(w, aid)
            return
        fut = w.results.pop(aid, None)
        if fut is not None and not fut.done():
            fut.set_result((ok, payload, peak))

    def _lost(self, w: WorkerProc) -> None:
        """The worker is gone: fail its actions, free its GPUs and its place in the pool."""
        if not w.alive:
            return
        w.alive = False
        if w.ahead:
            if self.closing:
                for nxt in w.ahead:  # they fail below with the others
                    w.results[nxt.state.action_id] = nxt.fut
                w.ahead.clear()
            else:
                self._take_back(w)  # it did not run there (or ran unseen): it runs elsewhere
        rc = w.proc.poll()
        killed = w.watched.killed if w.watched is not None else None
        peak = w.watched.peak if w.watched is not None else 0
        self.watch.remove(w.pid)
        if w in w.pool.workers:
            w.pool.workers.remove(w)
        if w.gpus:
            self._gpu_pool().release(w.gpus)
        if rc is not None:
            self.procs.pop(w.proc, None)
        if rc is None:
            how = "closed its connection"
        elif rc < 0:
            try:
                how = f"was killed by {signal.Signals(-rc).name}"
            except ValueError:
                how = f"was killed by signal {-rc}"
        else:
            how = f"exited with status {rc}"
        names = ", ".join(sorted(w.active)) or "-"
        msg = (
            f"The worker process {w.pid} of environment {w.pool.label!r} {how} while running "
            f"action(s) {names}."
        )
        oom = (killed[0], max(killed[1], peak)) if killed is not None else None
        for fut in w.results.values():
            if not fut.done():
                fut.set_exception(_WorkerLost(msg, oom))
        w.results.clear()
        w.cancelling.clear()
        if not w.ready.done():
            w.ready.set_exception(
                _WorkerLost(
                    f"A worker process for environment {w.pool.label!r} {how} while starting "
                    "(see its output above)."
                )
            )
            w.ready.exception()  # retrieved: the spawner reports it
        w.pool.notify()
        self._limits_changed()

    # ---- requests from workers ---------------------------------------------------------------------
    async def _handle(self, w: WorkerProc, rid: int, kind: str, payload: Any) -> None:
        reply = await self.reply(kind, payload)
        if rid:
            w.send(("reply", rid, reply))

    def state_of(self, action_id: str) -> ActionState | None:
        inf = self.inflight.get(action_id)
        return inf.state if inf is not None else None

    def child_started(self, action_id: str) -> None:
        inf = self.inflight.get(action_id)
        if inf is not None:
            self._child_started(inf)

    async def child_finished(self, action_id: str) -> None:
        inf = self.inflight.get(action_id)
        if inf is not None:
            await self._child_finished(inf)

    def _child_started(self, inf: _Inflight) -> None:
        inf.children += 1
        if inf.children == 1 and inf.worker is not None:
            for nxt in inf.worker.ahead:  # its share goes back: what was sent ahead cannot take it
                inf.worker.send(("withdraw", nxt.state.action_id))
            self._take_back(inf.worker)
            inf.worker.waiting += 1
            inf.worker.pool.notify()
            if inf.holds_cpu:
                inf.holds_cpu = False
                self.cpus.release(inf.weight)
                self._limits_changed()

    async def _child_finished(self, inf: _Inflight) -> None:
        inf.children -= 1
        if inf.children == 0 and inf.worker is not None:
            inf.worker.waiting -= 1
            if not inf.done and not inf.holds_cpu:
                await self.cpus.acquire(inf.weight)
                if inf.done:
                    self.cpus.release(inf.weight)
                else:
                    inf.holds_cpu = True
                self._limits_changed()

    # ---- GPUs ----------------------------------------------------------------------------------------
    def _gpu_pool(self) -> GpuPool:
        if self._gpus is None:
            gpus, source = discover()
            self._gpus = GpuPool(gpus, source)
            self._gpus.on_release = self._notify_gpu_pools
        return self._gpus

    def _notify_gpu_pools(self) -> None:
        for pool in self.pools.values():
            if pool.gpu is not None:
                pool.notify()

    def _gpu_request(self, tmpl: TaskTemplate[Any, Any]) -> tuple[Device | None, bool]:
        r = tmpl.resources
        dev = r.device() if r is not None else None
        if dev is None:
            return None, False
        reason = refuse_reason(tmpl.name, dev)
        if dev.device_class == "APPLE_SILICON":
            if reason is not None:
                raise AppleSiliconNotAvailableError(reason)
            return None, False  # the worker runs natively on this Mac and can use Metal directly
        if reason is not None:
            raise AcceleratorUnavailableError(reason)
        gp = self._gpu_pool()
        if len(gp.matching(dev)) >= dev.quantity:
            return dev, False
        msg = gp.missing_message(tmpl.name, dev)
        if os.environ.get("FLYTE_GPU_FALLBACK", "").lower() == "cpu":
            warnings.warn(f"{msg} Running it on CPU (FLYTE_GPU_FALLBACK=cpu).", RuntimeWarning, stacklevel=2)
            return None, True
        raise AcceleratorUnavailableError(msg)

    def _evict_idle_gpu_workers(self, device: Device) -> bool:
        """Stop idle workers that own matching GPUs, so a waiting action can have them."""
        gp = self._gpu_pool()
        names = {g.index: g.name for g in gp.gpus}
        stopped = False
        for pool in self.pools.values():
            for w in pool.workers:
                if w.gpus and not w.active and w.alive and not w.stopping:
                    if any(matches(names.get(i, ""), device.device) for i in w.gpus):
                        w.stop()
                        stopped = True
        return stopped

    # ---- housekeeping --------------------------------------------------------------------------------
    async def _reap_idle(self) -> None:
        """Stop idle workers past their TTL; a reusable pool keeps ``min_replicas`` until ``idle_ttl``."""
        while True:
            await asyncio.sleep(self._reap_interval())
            now = time.monotonic()
            self._trim_idle(now)
            for pool in self.pools.values():
                idle = sorted(
                    (w for w in pool.live() if not w.active and w.usable()), key=lambda w: w.last_used
                )
                if not idle:
                    continue
                policy = pool.policy
                if policy is None:
                    for w in idle:
                        if now - w.last_used >= IDLE_TTL:
                            w.stop()
                    continue
                whole = policy.idle_ttl_seconds
                each = policy.scaledown_ttl_seconds
                busy = any(w.active for w in pool.workers)
                keep = policy.min_replicas
                if whole is not None and not busy and now - pool.last_activity >= whole:
                    keep = 0
                    each = 0.0
                live = len(pool.live())
                for w in idle:
                    if live <= keep:
                        break
                    ttl = each if each is not None else whole
                    if ttl is not None and now - w.last_used >= ttl:
                        w.stop()
                        live -= 1

    def _trim_idle(self, now: float) -> None:
        """Many environments, one machine: above ``MAX_IDLE`` idle non-reusable workers, stop the
        least recently used (idle for 1 s at least, so a burst does not churn its own workers)."""
        cap = MAX_IDLE or max(8, int(4 * self.cpus.total))
        idle = [
            w
            for p in self.pools.values()
            if p.policy is None
            for w in p.live()
            if not w.active and w.usable()
        ]
        if len(idle) > cap:
            idle.sort(key=lambda w: w.last_used)
            for w in idle[: len(idle) - cap]:
                if now - w.last_used >= 1.0:
                    w.stop()

    def _reap_interval(self) -> float:
        ttls = [IDLE_TTL]
        for pool in self.pools.values():
            if pool.policy is not None:
                for t in (pool.policy.idle_ttl_seconds, pool.policy.scaledown_ttl_seconds):
                    if t is not None:
                        ttls.append(t)
        return min(1.0, max(0.05, min(ttls) / 4))

    def _spawn_task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    def _limits_changed(self) -> None:
        if not self.c.listeners:
            return
        n = sum(len(p.live()) for p in self.pools.values())
        text = f"{self.cpus.describe()}  workers {n}"
        if self._gpus is not None and self._gpus.gpus:
            text += f"  {self._gpus.describe_use()}"
        if text != self._limits_text:
            self._limits_text = text
            self.c._emit("limits", self._pseudo, text)

    def close(self) -> None:
        """Stop every worker of the run (called at run end); none outlives it."""
        self.closing = True
        for t in list(self._tasks):
            t.cancel()
        for proc, w in self.procs.items():
            if w is not None and w.usable():
                w.stop()  # a graceful exit (its output flushed)
            else:
                proc.kill()  # still starting: nothing to keep
        for w in list(self.procs.values()):
            if w is not None:
                self._lost(w)  # its pending actions fail now, not when the loop next turns
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in list(self.procs):
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        self.watch.close()


def _oom_message(
    tmpl: TaskTemplate[Any, Any], pool: Pool, limit: int, peak: int | None, allocation: bool = False
) -> str:
    where = "its replica" if pool.policy is not None else "its worker process"
    suggest = max(1, -(-2 * max(limit, peak or 0) // (1024**3)))
    if allocation:
        what = (
            f"an allocation failed: {where} would have gone well above the memory limit of "
            f"{limits.fmt_bytes(limit)} (peak before it: {limits.fmt_bytes(peak)})"
        )
    else:
        what = (
            f"{where} used {limits.fmt_bytes(peak)} (peak), above the memory limit of "
            f"{limits.fmt_bytes(limit)}, and was stopped"
        )
    short = tmpl.short_name or tmpl.name.rsplit(".", 1)[-1]
    return (
        f"Task {tmpl.name!r} ran out of memory: {what}. Give it more, e.g. "
        f'{short}.override(resources=flyte.Resources(memory="{suggest}Gi")).'
    )
