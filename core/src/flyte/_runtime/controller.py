"""The controller: every task call inside a run goes through ``Controller.submit``.

identity -> recorded result (recovery) -> cache -> journal -> dispatch to the task type's backend
-> retries and timeouts -> durable record -> result to the parent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flyte._context import ActionContext, current_action
from flyte._plugins.contract import ExecutionContext
from flyte._runtime import gctune
from flyte._runtime.codec import _BLAKE16, JSON_TAG, InterfaceCodec, TextParts
from flyte._runtime.errors_bridge import as_user_error, error_record
from flyte._runtime.identity import cache_key as _cache_key
from flyte._runtime.identity import cache_version, call_identity, child_action_id
from flyte._runtime.journal import (
    _SMALL_BLOB,
    UPSERT_ACTION,
    UPSERT_ACTION_DONE,
    ActionRow,
    AttemptRow,
    CacheEntry,
    LeaseOwner,
    PendingStart,
    RunJournal,
)
from flyte._runtime.leases import Lease, acquire_or_reuse
from flyte._runtime.placement import INLINE, Process, default_mode
from flyte._runtime.run_lease import host_id
from flyte._runtime.store import ObjectStore, join
from flyte.errors import (
    ActionAbortedError,
    DeadlineExceededError,
    InlineIOMaxBytesBreached,
    MaxQueuedTimeExceededError,
    MaxRuntimeExceededError,
    NonDeterminismError,
    NonRecoverableError,
    StorageError,
    SyncTaskCallInAsyncContextError,
    TraceDoesNotAllowNestedTasksError,
)

if TYPE_CHECKING:
    from flyte._runtime.controller_api import Identity
    from flyte._task import TaskTemplate

RUNNING, SUCCEEDED, FAILED, ABORTED = "RUNNING", "SUCCEEDED", "FAILED", "ABORTED"
QUEUED = "QUEUED"
"""A started action waiting for a place (max_action_concurrency, the CPU budget, a worker or GPU):
its journal row says so until it has one, and the live view gets ``queued``/``running`` events."""
JOURNAL_INLINE_LIMIT = 256 * 1024
"""Values above this size go to the object store; the journal keeps a reference."""
# The commonest child call takes Controller._submit_plain (tests turn it off to compare the rows).
FAST_CALLS = True
# asyncio.current_task(loop) without its Python frame (3.11: the tasks' own table; 3.12+: in C)
_task_on: Callable[[asyncio.AbstractEventLoop | None], asyncio.Task[Any] | None] = asyncio.current_task
if sys.version_info >= (3, 12):
    try:
        from _asyncio import current_task as _task_on
    except ImportError:  # an interpreter without asyncio's C module
        pass
elif isinstance(getattr(asyncio.tasks, "_current_tasks", None), dict):
    _task_on = asyncio.tasks._current_tasks.get  # type: ignore[attr-defined]
# Which loop runs this thread, without asyncio.get_running_loop(): on Python 3.11 that call checks
# the process id (a getpid system call, ~0.19 µs, twice a fan-out child; issue 20). A running
# BaseEventLoop keeps its thread's id in ``_thread_id`` (set on entry to run_forever, cleared on its
# way out) and asyncio refuses a second loop running in one thread, so "``_thread_id`` is this
# thread" means "the running loop". A forked child, where a copied loop still names the thread,
# and a loop without the attribute ask asyncio.
_get_ident = threading.get_ident
_NO_THREAD = object()
_forked = False


def _note_fork() -> None:
    global _forked
    _forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork)
ABORT_GRACE_S = 40.0
"""At a run's end, how long children cancelled by their parent's end get to finish cleaning up (more
than ``connector_loop.CREATE_GRACE_S``, what a connector waits for a submission in flight)."""


def system_retries() -> int:
    """How often a system failure (the store, a lost worker) is retried: ``FLYTE_SYSTEM_RETRIES`` (2).

    These retries never count against the task's own ``RetryStrategy``."""
    try:
        return max(0, int(os.environ.get("FLYTE_SYSTEM_RETRIES", "2")))
    except ValueError:
        return 2


def system_retry_delay(n: int) -> float:
    """Seconds before system retry ``n`` (1-based): ``FLYTE_SYSTEM_RETRY_DELAY`` (0.5 s), doubling,
    at most 10 s."""
    try:
        base = float(os.environ.get("FLYTE_SYSTEM_RETRY_DELAY", "0.5"))
    except ValueError:
        base = 0.5
    return float(min(10.0, max(0.0, base) * 2 ** (n - 1)))


def _settle(e: BaseException) -> None:
    """Mark a storage failure whose system retries are spent: callers up the tree do not retry it."""
    try:
        e._flyte_settled = True  # type: ignore[attr-defined]
    except Exception:
        pass


def _settled(e: BaseException) -> bool:
    return bool(getattr(e, "_flyte_settled", False))


@dataclass
class RecordedAction:
    """What an earlier execution of this run recorded for one action (used on recovery)."""

    status: str
    task_name: str
    outputs: bytes | None
    meta: str | None
    identity: str | None = None  # the task's code identity then; a different one now means "re-run it"


@dataclass(eq=False, slots=True)  # slots: made once per action (issue 20: half the cost)
class ActionState:
    """One live action: its identity and the counters that make its children's IDs deterministic."""

    action_id: str
    task_name: str
    parent: ActionState | None = None
    attempt: int = 0
    position: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    seqs: dict[tuple[str, str], int] = field(default_factory=dict)
    next_position: int = 0
    live_children: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    waiting_children: int = 0
    holds_slot: bool = False
    queued: bool = False  # waiting for a place: a concurrency slot, CPU budget, worker or GPU
    released: bool = False  # gave its place back after its body; its result is being recorded
    row: Any = None  # its journal row (_Row), for the QUEUED/RUNNING updates
    log: Any = None  # what this attempt wrote to stdout/stderr (flyte._runtime.logs)
    report: Any = None  # this attempt's flyte.report.Report (None until a report is used)

    def __init__(  # by hand: the generated one calls a factory per dict field (one per child, issue 20)
        self,
        action_id: str,
        task_name: str,
        parent: ActionState | None = None,
        attempt: int = 0,
        position: int = 0,
        data: dict[str, Any] | None = None,
        seqs: dict[tuple[str, str], int] | None = None,
        next_position: int = 0,
        live_children: dict[str, asyncio.Task[Any]] | None = None,
        waiting_children: int = 0,
        holds_slot: bool = False,
        queued: bool = False,
        released: bool = False,
        row: Any = None,
        log: Any = None,
        report: Any = None,
    ) -> None:
        self.action_id = action_id
        self.task_name = task_name
        self.parent = parent
        self.attempt = attempt
        self.position = position
        self.data = {} if data is None else data
        self.seqs = {} if seqs is None else seqs
        self.next_position = next_position
        self.live_children = {} if live_children is None else live_children
        self.waiting_children = waiting_children
        self.holds_slot = holds_slot
        self.queued = queued
        self.released = released
        self.row = row
        self.log = log
        self.report = report

    def child_key(self, identity: str, inputs_hash: str) -> tuple[str, int]:
        """(action ID, position) for the next child call with this task and inputs."""
        k = (identity, inputs_hash)
        seq = self.seqs.get(k, 0)
        self.seqs[k] = seq + 1
        pos = self.next_position
        self.next_position = pos + 1
        return child_action_id(self.action_id, identity, inputs_hash, seq), pos


_worker = threading.local()


class SyncPool(concurrent.futures.Executor):
    """Threads for sync task bodies: at most ``limit`` run at once.

    A sync task that blocks waiting for its own children (a sync parent) gives its place up while it
    waits (``blocked()``), and a thread is added if needed, so nested sync tasks never deadlock the
    pool however deep they go. Threads are daemons: a sync body that outlives its timeout does not
    keep the process alive.
    """

    def __init__(self, limit: int, name: str = "flyte-sync") -> None:
        self.limit = max(1, limit)
        self.name = name
        self._cv = threading.Condition(threading.Lock())
        self._queue: deque[
            tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]
        ]
        self._queue = deque()
        self._running = 0  # bodies running and not blocked on a child
        self._blocked = 0  # bodies waiting for a child
        self._idle = 0  # threads waiting for work
        self._threads = 0
        self._closed = False

    def saturated(self) -> bool:
        """Whether work submitted now would wait for a thread (every place taken or promised)."""
        with self._cv:
            return self._running + len(self._queue) >= self.limit

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._cv:
            if self._closed:
                raise RuntimeError("the run's sync pool is shut down")
            self._queue.append((fut, fn, args, kwargs))
            self._wake()
        return fut

    def _wake(self) -> None:
        """With the lock held: hand queued work to idle threads, starting threads where needed."""
        startable = min(len(self._queue), self.limit - self._running)
        if startable <= 0:
            return
        if self._idle:
            self._cv.notify(min(self._idle, startable))
        missing = startable - self._idle
        while missing > 0 and self._threads < self.limit + self._blocked:
            missing -= 1
            self._threads += 1
            self._idle += 1  # counted idle until it takes work, so a burst does not over-spawn
            threading.Thread(target=self._work, name=f"{self.name}-{self._threads}", daemon=True).start()

    def _work(self) -> None:
        _worker.pool = self
        cv = self._cv
        with cv:
            while True:
                while not self._closed and (not self._queue or self._running >= self.limit):
                    cv.wait()
                if self._closed and not self._queue:
                    self._idle -= 1
                    self._threads -= 1
                    return
                fut, fn, args, kwargs = self._queue.popleft()
                self._idle -= 1
                self._running += 1
                cv.release()
                try:
                    if fut.set_running_or_notify_cancel():
                        try:
                            fut.set_result(fn(*args, **kwargs))
                        except BaseException as e:
                            fut.set_exception(e)
                finally:
                    cv.acquire()
                    self._running -= 1
                    self._idle += 1
                    self._wake()

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Around a sync body's wait for a child: its place goes to other queued work meanwhile."""
        if getattr(_worker, "pool", None) is not self:
            yield
            return
        with self._cv:
            self._running -= 1
            self._blocked += 1
            self._wake()
        try:
            yield
        finally:
            with self._cv:
                self._blocked -= 1
                self._running += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cv:
            self._closed = True
            if cancel_futures:
                while self._queue:
                    self._queue.popleft()[0].cancel()
            self._cv.notify_all()


def pool_blocked(pool: Any) -> Any:
    """``pool.blocked()`` for a :class:`SyncPool`; a no-op context for other executors."""
    blocked = getattr(pool, "blocked", None)
    return blocked() if blocked is not None else nullcontext()


Listener = Callable[[str, ActionState, str], None]


class Controller:
    """Orchestrates one run's actions on one event loop (implements ``controller_api.ControllerAPI``)."""

    recovered_from: str | None = None  # the other run whose recorded actions this one reuses

    def __init__(
        self,
        run_name: str,
        journal: RunJournal,
        store: ObjectStore,
        run_prefix: str,
        *,
        overwrite_cache: bool = False,
        disable_run_cache: bool = False,
        max_action_concurrency: int | None = None,
        env_vars: Mapping[str, str] | None = None,
        recorded: dict[str, RecordedAction] | None = None,
        recorded_positions: dict[tuple[str, int], str] | None = None,
        sync_workers: int | None = None,
        isolation: str | None = None,
        max_cpus: float | None = None,
        cluster: Any = None,
        recovered_from: str | None = None,
    ) -> None:
        from flyte._runtime.placement import make_workers

        self.run_name = run_name
        self.journal = journal
        self.store = store
        self.run_prefix = run_prefix
        self.overwrite_cache = overwrite_cache
        self.disable_run_cache = disable_run_cache
        self.env_vars = dict(env_vars or {})
        self.recorded = recorded or {}
        self.recorded_positions = recorded_positions or {}
        # Attempts an earlier execution of this run recorded, per action: a recovery numbers its
        # attempts after them, so every attempt (and its error) stays in the journal.
        self.attempt_base: dict[str, int] = {}
        self.recovered_from = recovered_from
        self.identity: Identity = (None, None, None)  # (project, domain, org): flyte.ctx().action
        self.started_at: float | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sync_pool = SyncPool(sync_workers or min(32, (os.cpu_count() or 1) + 4))
        self.slots = asyncio.Semaphore(max_action_concurrency) if max_action_concurrency else None
        self.listeners: list[Listener] = []
        self._backends: dict[tuple[str, int], Any] = {}
        self._serializing: dict[str, asyncio.Future[None]] = {}
        self.counts = {
            RUNNING: 0,
            QUEUED: 0,
            SUCCEEDED: 0,
            FAILED: 0,
            ABORTED: 0,
            "CACHED": 0,
            "RECOVERED": 0,
        }
        self._specs: set[str] = set()  # task identities whose spec this run has recorded
        # Children called on the run's loop and not started yet (a gather of 10k makes them all
        # before the first starts), and the in-flight counts (these + RUNNING) at which the
        # collector's first threshold is next raised or put back (gctune.follow, issue 20).
        self._called = 0
        self._gc_wide_at = gctune.WIDE_FROM
        self._gc_narrow_below = 0
        self._aborted: set[asyncio.Task[Any]] = set()  # orphans cancelled, maybe still cleaning up
        self.workers = make_workers(self, isolation, max_cpus, cluster)  # None: every action inline
        from flyte._runtime import logs

        logs.install()

    # ---- entry from TaskTemplate.__call__ ---------------------------------------------------------
    def call(
        self,
        tmpl: TaskTemplate[Any, Any],
        pac: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        via_aio: bool,
    ) -> Any:
        if not pac.in_trace:  # the common case, on the run's loop: what route_call would do
            running = self.loop
            tid = getattr(running, "_thread_id", _NO_THREAD)
            if tid is _NO_THREAD or _forked:  # (see _get_ident)
                try:
                    on_loop = asyncio.get_running_loop() is running
                except RuntimeError:
                    on_loop = False
            else:
                on_loop = tid == _get_ident()
            if (
                on_loop
                and running is not None
                # (a template found plain async is not sync: no property call for it)
                and (via_aio or tmpl.__dict__.get("_plain_async") or not tmpl.is_sync)
            ):
                self._called = called = self._called + 1
                if called >= self._gc_wide_at:  # a big fan-out being made (gctune.follow)
                    self._gc_follow()
                # the template's half of the fast-path choice, made once per template (_plain_parts)
                parts = tmpl.__dict__.get("_flyte_plain")
                if parts is None:
                    parts = _plain_parts(tmpl)
                if (
                    parts
                    and len(args) == 1
                    and not kwargs
                    and FAST_CALLS
                    and self.slots is None
                    and (
                        (w := self.workers) is None  # inline known for this template, as submit finds it
                        or (w.forced is None and w.cluster is None and parts.inline)
                    )
                    and not self.recorded_positions
                    and not self.recorded
                    and not self.attempt_base
                ):
                    if parts.uncached or self.disable_run_cache:
                        return self._submit_plain(tmpl, pac, args[0], parts)
                    if parts.key_head is not None and not self.overwrite_cache and not self.listeners:
                        return self._submit_hit(tmpl, pac, args[0], parts)  # a lookup first (issue 20)
                elif (
                    parts
                    and len(args) == 1
                    and not kwargs
                    and FAST_CALLS
                    and self.slots is None
                    and (w := self.workers) is not None
                    and w.forced is None
                    and w.cluster is None
                    and tmpl.__dict__.get("_flyte_isolation") == "process"  # (default_mode's, kept)
                    and (parts.uncached or self.disable_run_cache)
                    and not self.recorded_positions
                    and not self.recorded
                    and not self.attempt_base
                ):
                    return self._submit_proc(tmpl, pac, args[0], parts)
                return self.submit(tmpl, pac, args, kwargs)
        return route_call(
            tmpl, pac, via_aio, self.loop, self.sync_pool, lambda: self.submit(tmpl, pac, args, kwargs)
        )

    def _gc_follow(self) -> None:
        self._gc_wide_at, self._gc_narrow_below = gctune.follow(self._called + self.counts[RUNNING])

    def sync_body(self, action: ActionState, call: Callable[[], Any]) -> Callable[[], Any]:
        """``call`` (a sync body), tracked: QUEUED while every thread of the pool is busy, and the
        live view told when its thread is free again."""
        queued = self.sync_pool.saturated()
        watched = bool(self.listeners)  # the live view also wants to know when it ends
        if not (queued or watched):
            return call
        if queued:
            self.mark_queued(action)
        loop = asyncio.get_running_loop()

        def tracked() -> Any:
            loop.call_soon_threadsafe(self.mark_admitted, action)  # (a retry: RUNNING again)
            try:
                return call()
            finally:
                if watched:  # before this thread takes the next body (and admits it)
                    loop.call_soon_threadsafe(self.mark_released, action)

        return tracked

    # ---- what an earlier execution recorded (recovery) -------------------------------------------------
    @property
    def recovering(self) -> bool:
        return bool(self.recorded_positions)

    def recorded_action(self, action_id: str) -> RecordedAction | None:
        return self.recorded.get(action_id)

    def recorded_position(self, parent_id: str, position: int) -> str | None:
        return self.recorded_positions.get((parent_id, position))

    # ---- the pipeline -----------------------------------------------------------------------------
    async def _submit_hit(
        self, tmpl: TaskTemplate[Any, Any], pac: ActionContext, arg: Any, parts: _Plain
    ) -> Any:
        """``submit``'s cache hit in one frame (issue 20): a child ``call`` found plain but for its
        ``auto`` cache (no ignored inputs; the run reads the cache, nothing watches it). The key is
        looked up before anything else; a miss (told, not looked up again) or an input this path does
        not encode is left to ``submit`` whole. A hit writes the row and counts ``submit`` does
        (``test_hit_row_direct.py``), with the same action ID and key (``test_identity_pinned.py``)."""
        codec = parts.codec
        if arg.__class__ is int and parts.int_in:  # codec.encode_one's int branch, inlined
            body = parts.int_body % arg  # (one_head + int.__repr__(arg) + "}").encode(), in one C call
            enc_inputs = JSON_TAG + body
            h = _BLAKE16.copy()
            h.update(body)
            inputs_hash = h.hexdigest()
        else:
            one = codec.encode_one(arg)
            if one is None:
                return await self.submit(tmpl, pac, (arg,), {})
            enc_inputs, inputs_hash = one[1], one[2]
        if len(enc_inputs) > parts.max_in:
            return await self.submit(tmpl, pac, (arg,), {})  # stored or refused there
        started = time.time()  # the row's start, as submit takes it before the lookup
        h = parts.key_head.copy()  # type: ignore[union-attr]
        h.update((inputs_hash + parts.key_tail).encode())  # identity.cache_key, its parts kept
        hit = self.journal.journal.cache_lookup(h.hexdigest(), parts.max_age)
        if hit is None:  # nothing awaited since the lookup: submit need not look again
            return await self.submit(tmpl, pac, (arg,), {}, True)
        if self._called:  # as submit counts a call it takes
            self._called -= 1
            if self._called + self.counts[RUNNING] < self._gc_narrow_below:
                self._gc_follow()
        # parent.child_key and child_action_id, inlined (the same formula, test_identity_pinned.py)
        parent = pac.action
        ci = parts.call_id
        seqs = parent.seqs
        k = (ci, inputs_hash)
        seq = seqs.get(k, 0)
        seqs[k] = seq + 1
        position = parent.next_position
        parent.next_position = position + 1
        h = _BLAKE16.copy()
        h.update(f"{parent.action_id}|{ci}|{inputs_hash}|{seq}".encode())
        cols = (
            self.run_name, h.hexdigest(), parent.action_id if parent.parent is not None else None,
            position, "task", parts.name, parts.identity, "python", SUCCEEDED, 0, 1, started,
            time.time(), enc_inputs, hit, None, pac.group, "inline", None,
        )  # fmt: skip
        self.journal.action_ended(_new_row(ActionRow, cols))
        self.counts["CACHED"] += 1
        if parts.int_out and hit[:1] == JSON_TAG:  # a JSON int as decode_value reads it, in place
            body = hit[1:]
            if body.isdigit() and len(body) < 19 and (body[:1] != b"0" or len(body) == 1):
                return int(body)
        if hit[:1] == b"R":
            return codec.decode_output(self.load_value(hit))
        return codec.decode_cached(hit)

    async def _submit_plain(
        self, tmpl: TaskTemplate[Any, Any], pac: ActionContext, arg: Any, parts: _Plain
    ) -> Any:
        """``submit`` and ``_attempts`` in one frame for the commonest child (issue 20, a fan-out):
        one positional input, a plain async body run inline, no cache, retries, timeout, concurrency
        limit, worker processes or recovery (``call`` checks these). It records the same rows as the
        general path (``test_plain_fast_path.py``); a failure is handled as ``_attempts`` would."""
        codec = parts.codec
        if arg.__class__ is int and parts.int_in:  # codec.encode_one's int branch, inlined
            body = parts.int_body % arg  # (one_head + int.__repr__(arg) + "}").encode(), in one C call
            enc_inputs = JSON_TAG + body
            if len(enc_inputs) > parts.max_in:
                return await self.submit(tmpl, pac, (arg,), {})  # refused there
            # the done row's copy (a small blob is bound as a bytearray, see below): made by the
            # concatenation, not copied from enc_inputs by a bytearray() call
            in_blob: bytes | bytearray = _TAG_BLOB + body
            h = _BLAKE16.copy()
            h.update(body)
            inputs_hash = h.hexdigest()
        else:
            one = codec.encode_one(arg)
            if one is None or len(one[1]) > parts.max_in:
                return await self.submit(tmpl, pac, (arg,), {})  # bound, validated, stored or refused there
            inputs, enc_inputs, inputs_hash = one
            if codec.any_ref:
                codec.check_paths_exist(inputs)
            in_blob = bytearray(enc_inputs) if len(enc_inputs) < _SMALL_BLOB else enc_inputs
        parent = pac.action
        if self._called:  # (no gctune check: RUNNING is raised below, the in-flight count stays)
            self._called -= 1
        # parent.child_key and child_action_id, inlined (the same formula, test_identity_pinned.py)
        ci = parts.call_id
        seqs = parent.seqs
        k = (ci, inputs_hash)
        seq = seqs.get(k, 0)
        seqs[k] = seq + 1
        position = parent.next_position
        parent.next_position = position + 1
        # child_action_id's digest of f"{parent_id}|{ci}|{inputs_hash}|{seq}", its head absorbed once
        # per parent (kept in parts for the last parent seen: a fan-out's children share it)
        head = parts.id_head
        if head[0] != parent.action_id:
            hp = _BLAKE16.copy()
            hp.update(f"{parent.action_id}|{ci}|".encode())
            head = parts.id_head = (parent.action_id, hp)
        h = head[1].copy()
        h.update(f"{inputs_hash}|{seq}".encode())
        action_id = h.hexdigest()
        identity = parts.identity
        # _Row(...) and ActionState(action_id, parts.name, parent, 0, position, row=row) without the
        # class calls (type call, __init__ through C, a second eval loop: ~1k instructions each);
        # every slot is set, as the __init__s set them (test_action_state_init.py checks it)
        row: _Row = _new_obj(_Row)
        parent_id = parent.action_id if parent.parent is not None else None
        row.fixed = (
            self.run_name,
            action_id,
            parent_id,
            position,
            "task",
            parts.name,
            identity,
            parts.task_type,
        )
        row.group = group = pac.group
        row.inputs = enc_inputs  # (encode_one's are bytes)
        row.started = started = time.time()
        row.mode = "inline"
        row.base = 0
        row._running = None
        child: ActionState = _new_obj(ActionState)
        child.action_id = action_id
        child.task_name = parts.name
        child.parent = parent
        child.attempt = 0
        child.position = position
        child.data = {}
        child.seqs = {}
        child.next_position = 0
        child.live_children = {}
        child.waiting_children = 0
        child.holds_slot = False
        child.queued = False
        child.released = False
        child.row = row
        child.log = None
        child.report = None
        task = _task_on(self.loop) if parent.parent is not None else None  # not None: tracked
        if identity not in self._specs:
            self._record_spec(tmpl)
        journal = self.journal
        if journal._scheduled:  # journal.action_running, inlined while a group commit is due
            journal._pending_actions[(self.run_name, action_id)] = row  # type: ignore[assignment]
        else:
            journal.action_running(self.run_name, action_id, row)
        self.counts[RUNNING] += 1
        if self.listeners:
            self._emit("start", child, RUNNING)
        if task is not None:
            parent.live_children[action_id] = task  # type: ignore[assignment]
        try:
            try:
                ac: ActionContext = _new_obj(ActionContext)  # ActionContext(self, child, False, ...)
                ac.controller = self
                ac.action = child
                ac.in_trace = False
                ac.group = group
                ac.custom = pac.custom
                token = current_action.set(ac)
                try:
                    # (the one input by position where that binds it the same: no dict, no keywords)
                    out = await (parts.func(arg) if parts.positional else parts.func(**{parts.one_name: arg}))
                finally:
                    if child.live_children:
                        self._abort_orphans(child)
                    current_action.reset(token)
                    if child.log is not None:
                        self._save_log(child, 0, False)
            except asyncio.CancelledError:
                # (the first attempt's start is its row's: no clock read)
                self._attempt_row(child, row, 0, ABORTED, row.started, None)
                raise
            except Exception as e:
                self._attempt_row(child, row, 0, FAILED, row.started, error_record(e))
                if not isinstance(e, StorageError):
                    raise _Exhausted(e, 1, False) from None
                # a system failure: retried as _attempts does, from its second attempt
                if _settled(e) or system_retries() < 1:
                    _settle(e)
                    raise _Exhausted(e, 1, False) from None
                _warn_system_retry(tmpl, e, 1)
                await asyncio.sleep(system_retry_delay(1))
                self.journal.action_started(row.params(RUNNING, 1, None, None))
                inputs = {parts.one_name: arg}  # what encode_one gives
                out = await self._attempts(tmpl, child, inputs, pac, row, attempt=1, system_failures=1)
            if out.__class__ is int and parts.int_out:  # _checked_output's first branch, inlined
                # JSON_TAG + int.__repr__(out).encode() in one C call, as the bytearray the done row
                # binds (a small blob: see below); bytes wherever a whole row or the store takes it
                out_blob: bytes | bytearray = _INT_STORED_BLOB % out
                if len(out_blob) > parts.max_in:  # (rare) refused, or stored as _checked_output's are
                    if len(out_blob) > parts.limit:
                        raise _inline_breach(tmpl, codec, None, len(out_blob))
                    stored = await self._store_retried(action_id, "outputs", bytes(out_blob))
                    out_blob = bytearray(stored) if len(stored) < _SMALL_BLOB else stored
            else:
                out, enc_out = _checked_output(tmpl, codec, out, ())
                stored = (
                    bytes(enc_out)
                    if len(enc_out) <= JOURNAL_INLINE_LIMIT
                    else await self._store_retried(action_id, "outputs", enc_out)
                )
                out_blob = bytearray(stored) if len(stored) < _SMALL_BLOB else stored
        except asyncio.CancelledError:
            self._ended_aborted(child, row)
            raise
        except BaseException as e:
            raise await self._ended_failed(e, child, row) from None
        finally:
            if task is not None:
                parent.live_children.pop(action_id, None)
        # row.params(SUCCEEDED, ...), inlined; journal.action_finished(row) is _durable(UPSERT_ACTION, row)
        # (self.loop: this coroutine runs on it, see call)
        if group is None:
            # Outside a group it is a done row (journal.DONE_LEN: the 12 values UPSERT_ACTION_DONE
            # binds, its kind, task type, status and mode being that statement's own literals, as
            # they are this path's), which the commit binds as it is (issue 20, tenth round)
            await journal._durable(
                self.loop,  # type: ignore[arg-type]
                UPSERT_ACTION_DONE,
                (
                    self.run_name,
                    action_id,
                    parent_id,
                    position,
                    parts.name,
                    identity,
                    child.attempt + 1,
                    0,
                    started,
                    time.time(),
                    # small bytes as bytearray: the same BLOB, bound without sqlite3's adapter lookup
                    in_blob,
                    out_blob,
                ),
            )
        else:
            # (a plain tuple in ActionRow's column order: the journal reads rows by position, and
            # tuple.__new__(ActionRow, ...) would copy the 19 columns once more)
            await journal._durable(
                self.loop,  # type: ignore[arg-type]
                UPSERT_ACTION,
                row.fixed  # noqa: RUF005 (a concatenation: no list built, as (*fixed, ...) does)
                + (
                    SUCCEEDED,
                    child.attempt + 1,
                    0,
                    started,
                    time.time(),
                    enc_inputs,
                    out_blob if out_blob.__class__ is bytes else bytes(out_blob),  # (whole rows: bytes)
                    None,
                    group,
                    "inline",
                    None,
                ),
            )
        counts = self.counts
        counts[RUNNING] -= 1
        counts[SUCCEEDED] += 1
        if counts[RUNNING] + self._called < self._gc_narrow_below:
            self._gc_follow()
        if self.listeners:
            self._emit("end", child, SUCCEEDED)
        return out

    async def _submit_proc(
        self, tmpl: TaskTemplate[Any, Any], pac: ActionContext, arg: Any, parts: _Plain
    ) -> Any:
        """``submit`` and ``_attempts`` in one frame for a plain child run in a worker process (issue
        20 item 4: a process chain's step): one positional input, a plain async body whose
        environment runs in a worker process (``default_mode``), no cache, retries, timeout, report,
        concurrency limit, forced isolation, cluster or recovery (``call`` checks these). It records
        the same rows as the general path (``test_process_chain_turns.py``); a failure is handled as
        ``_attempts`` would."""
        workers = self.workers
        place = workers.places.get("process") if workers is not None else None
        if place is None and workers is not None:
            place = workers.placement("process")
        codec = parts.codec
        one = codec.encode_one(arg)
        if type(place) is not Process or one is None or len(one[1]) > parts.max_in:
            return await self.submit(tmpl, pac, (arg,), {})  # bound, validated, stored or refused there
        inputs, enc_inputs, inputs_hash = one
        if codec.any_ref:
            codec.check_paths_exist(inputs)
        manager = place.manager
        if manager is None:
            from flyte._runtime.placement.pool import WorkerManager

            manager = place.manager = WorkerManager(self, max_cpus=place.max_cpus)
        parent = pac.action
        if self._called:
            self._called -= 1
        action_id, position = parent.child_key(parts.call_id, inputs_hash)
        identity = parts.identity
        # _Row(...) and ActionState(...) without the class calls (as _submit_plain makes them)
        row: _Row = _new_obj(_Row)
        parent_id = parent.action_id if parent.parent is not None else None
        row.fixed = (
            self.run_name,
            action_id,
            parent_id,
            position,
            "task",
            parts.name,
            identity,
            parts.task_type,
        )
        row.group = group = pac.group
        row.inputs = enc_inputs
        row.started = time.time()
        row.mode = "process"
        row.base = 0
        row._running = None
        child: ActionState = _new_obj(ActionState)
        child.action_id = action_id
        child.task_name = parts.name
        child.parent = parent
        child.attempt = 0
        child.position = position
        child.data = {}
        child.seqs = {}
        child.next_position = 0
        child.live_children = {}
        child.waiting_children = 0
        child.holds_slot = False
        child.queued = False
        child.released = False
        child.row = row
        child.log = None
        child.report = None
        loop = self.loop or asyncio.get_running_loop()
        task = _task_on(loop) if parent.parent is not None else None  # not None: tracked
        if identity not in self._specs:
            self._record_spec(tmpl)
        counts = self.counts
        # the only action in flight (a sequential chain's step): no loop turn for its start row
        # while the journal's batch timer is armed (RunJournal._idle)
        self.journal.action_running(self.run_name, action_id, row, _only_line(parent, counts[RUNNING]))
        counts[RUNNING] += 1
        if self.listeners:
            self._emit("start", child, RUNNING)
        if task is not None:
            parent.live_children[action_id] = task  # type: ignore[assignment]
        try:
            try:
                try:
                    out = await manager.run(tmpl, child, inputs, group, dict(pac.custom))
                finally:
                    if child.live_children:
                        self._abort_orphans(child)
                    if child.log is not None:
                        self._save_log(child, 0, False)
            except asyncio.CancelledError:
                self._attempt_row(child, row, 0, ABORTED, row.started, None)
                raise
            except Exception as e:
                self._attempt_row(child, row, 0, FAILED, row.started, error_record(e))
                if not isinstance(e, StorageError):
                    raise _Exhausted(e, 1, False) from None
                # a system failure: retried as _attempts does, from its second attempt
                if _settled(e) or system_retries() < 1:
                    _settle(e)
                    raise _Exhausted(e, 1, False) from None
                _warn_system_retry(tmpl, e, 1)
                await asyncio.sleep(system_retry_delay(1))
                self.journal.action_started(row.params(RUNNING, 1, None, None))
                out = await self._attempts(tmpl, child, inputs, pac, row, attempt=1, system_failures=1)
            out, enc_out = _checked_output(tmpl, codec, out, ())
            stored = (
                bytes(enc_out)
                if len(enc_out) <= JOURNAL_INLINE_LIMIT
                else await self._store_retried(action_id, "outputs", enc_out)
            )
        except asyncio.CancelledError:
            self._ended_aborted(child, row)
            raise
        except BaseException as e:
            raise await self._ended_failed(e, child, row) from None
        finally:
            if task is not None:
                parent.live_children.pop(action_id, None)
        await self.journal.action_finished(
            row.params(SUCCEEDED, child.attempt + 1, stored, None),
            None,
            loop,
            _only_line(parent, counts[RUNNING] - 1),
        )
        counts[RUNNING] -= 1
        counts[SUCCEEDED] += 1
        if counts[RUNNING] + self._called < self._gc_narrow_below:
            self._gc_follow()
        if self.listeners:
            self._emit("end", child, SUCCEEDED)
        return out

    def _attempt_row(
        self, child: ActionState, row: _Row, attempt: int, status: str, started: float, error: str | None
    ) -> None:
        ended = time.time()
        self.journal.attempt_finished(
            AttemptRow(self.run_name, child.action_id, row.base + attempt, status, started, ended, error)
        )

    def _ended_aborted(self, child: ActionState, row: _Row) -> None:
        """An action's end by cancellation: its ABORTED row, counts and the live view."""
        self.journal.action_ended(row.params(ABORTED, child.attempt + 1, None, aborted_error()))
        self.counts[RUNNING] -= 1
        self.counts[ABORTED] += 1
        if self.counts[RUNNING] + self._called < self._gc_narrow_below:
            self._gc_follow()
        self._emit("end", child, ABORTED)

    async def _ended_failed(self, e: BaseException, child: ActionState, row: _Row) -> BaseException:
        """An action's end by failure: its FAILED row (durable), counts and the live view; returns
        the error its caller sees."""
        err = e if isinstance(e, _Exhausted) else _Exhausted(e, child.attempt + 1, False)
        if isinstance(e, StorageError):  # the attempt ran, but its output could not be stored
            self._attempt_row(child, row, child.attempt, FAILED, row.started, error_record(e))
        await self.journal.action_finished(row.params(FAILED, err.attempts, None, error_record(err.error)))
        self.counts[RUNNING] -= 1
        self.counts[FAILED] += 1
        if self.counts[RUNNING] + self._called < self._gc_narrow_below:
            self._gc_follow()
        self._emit("end", child, FAILED)
        return as_user_error(err.error, err.exhausted, err.attempts)

    async def submit(
        self,
        tmpl: TaskTemplate[Any, Any],
        pac: ActionContext,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        missed: bool = False,  # _submit_hit looked the key up just now (this loop step): no entry
    ) -> Any:
        parent = pac.action
        if self._called:  # (clamped: a call routed otherwise did not count itself)
            self._called -= 1
            if self._called + self.counts[RUNNING] < self._gc_narrow_below:  # e.g. cache hits
                self._gc_follow()
        codec = tmpl.__dict__.get("_codec") or interface_codec(tmpl)  # (built once per template)
        one = codec.encode_one(args[0]) if len(args) == 1 and not kwargs else None  # (the usual call)
        enc_inputs: bytes | TextParts
        if one is not None:
            inputs, enc_inputs, inputs_hash = one
        else:
            inputs = tmpl.interface.bind(tmpl.name, args, kwargs)
            codec.validate_inputs(inputs, check_paths=False)
            enc_inputs, inputs_hash = codec.encode_inputs_lazy(inputs)
        if len(enc_inputs) > tmpl.max_inline_io_bytes:
            raise _inline_breach(tmpl, codec, inputs, len(enc_inputs))
        action_id, position = parent.child_key(
            tmpl.__dict__.get("_call_identity") or call_identity(tmpl), inputs_hash
        )
        rec = self.recorded.get(action_id) if self.recorded else None  # (a recovery)
        if (
            rec is not None
            and rec.status == SUCCEEDED
            and rec.outputs is not None
            and (rec.identity is None or rec.identity == tmpl.identity)  # its code is unchanged
        ):
            self.counts["RECOVERED"] += 1
            if self.recovered_from is not None:
                self.copy_recovered(
                    action_id, parent.action_id if parent.parent is not None else None, position
                )
            return codec.decode_output(self.load_value(rec.outputs))
        if codec.any_ref:  # only for an action that runs: a replay reads no input
            codec.check_paths_exist(inputs)
        prev = self.recorded_positions.get((parent.action_id, position)) if self.recorded_positions else None
        if rec is None and prev is not None and prev != tmpl.name:
            raise NonDeterminismError(
                f"Non-deterministic parent {parent.task_name!r}: call #{position} was {prev!r} when this run "
                f"was first executed, but is now {tmpl.name!r}. A recovered run must call the same tasks in "
                "the same order; start a new run instead of recovering this one."
            )
        parent_id = parent.action_id if parent.parent is not None else None
        texts: tuple[str, ...] = ()  # long input texts found plain: not scanned again if returned
        if len(enc_inputs) > JOURNAL_INLINE_LIMIT:
            if enc_inputs.__class__ is TextParts:
                texts = enc_inputs.texts()  # type: ignore[union-attr]
            enc_inputs = await self._store_retried(action_id, "inputs", enc_inputs)
        elif not isinstance(enc_inputs, bytes):  # never: unjoined parts are over a MiB
            enc_inputs = bytes(enc_inputs)
        identity = tmpl.__dict__.get("_identity") or tmpl.identity  # (the property: a closure a call)
        # Every action inline and a first execution (the usual case): the row is made after the
        # cache lookup, and a hit's row is written without it (issue 20: _Row and _Row.cached).
        row: _Row | None = None
        group = pac.group
        workers = self.workers
        if self.attempt_base or (workers is not None and workers.cluster is not None):
            row = _Row(self.run_name, action_id, parent_id, position, tmpl, identity, group, enc_inputs)
            if self.attempt_base:
                row.base = self.attempt_base.get(action_id, 0)
        child: ActionState | None = None  # made after the cache lookup: a hit needs none (issue 20)
        mode = "inline"
        if workers is not None:
            if workers.cluster is not None:  # its mode depends on where the action sits
                child = ActionState(action_id, tmpl.name, parent=parent, position=position)
                child.row = row
            plain = workers.forced is None and workers.cluster is None
            known = tmpl.__dict__.get("_flyte_isolation") if plain else None
            mode = known or workers.mode(tmpl, child)  # (known: what default_mode returns)
            if row is not None:
                row.mode = mode

        cache_key = None
        owner: asyncio.Future[None] | None = None
        lease: Lease | None = None
        cache = tmpl.cache
        if cache.behavior != "disable" and not self.disable_run_cache:  # cache.is_enabled()
            started = time.time()  # the row's start, as _Row would have taken it before the lookup
            cache_key = _cache_key(tmpl, codec, inputs, inputs_hash)
            reads = not self.overwrite_cache and cache.behavior == "auto"  # cache.reads_cache()
            hit = None
            if reads:
                max_age = cache.max_age_seconds if cache.max_age is not None else None  # (a property)
                if not missed:
                    hit = self.journal.journal.cache_lookup(cache_key, max_age)  # (RunJournal.cache_get)
                if hit is not None and row is None and not self.listeners:
                    # The usual hit: its row straight, the columns _Row.cached gives (no earlier
                    # attempts). The value is already durable (the cache entry is committed): the
                    # row rides the next group commit, nobody waits for it (issue 20).
                    cols = (
                        self.run_name, action_id, parent_id, position, "task", tmpl.name, identity,
                        tmpl.task_type, SUCCEEDED, 0, 1, started, time.time(), enc_inputs, hit, None,
                        group, mode, None,
                    )  # fmt: skip
                    self.journal.action_ended(_new_row(ActionRow, cols))
                    self.counts["CACHED"] += 1
                    if hit[:1] == b"R":
                        return codec.decode_output(self.load_value(hit))
                    return codec.decode_cached(hit)
            if row is None:
                row = _Row(self.run_name, action_id, parent_id, position, tmpl, identity, group, enc_inputs)
                row.started, row.mode = started, mode
            if reads:
                if hit is None and cache.serialize:
                    hit, owner, lease = await self._serialized(cache_key, max_age, row)
                if hit is not None:
                    # As above, for a hit watched by the live view or with a row made before.
                    self.journal.action_ended(row.cached(hit))
                    self.counts["CACHED"] += 1
                    if self.listeners:
                        if child is None:
                            child = ActionState(action_id, tmpl.name, parent=parent, position=position)
                            child.row = row
                        self._emit("cached", child, SUCCEEDED)
                    if hit[:1] == b"R":
                        return codec.decode_output(self.load_value(hit))
                    return codec.decode_cached(hit)
        if row is None:
            row = _Row(self.run_name, action_id, parent_id, position, tmpl, identity, group, enc_inputs)
            row.mode = mode

        if child is None:
            child = ActionState(action_id=action_id, task_name=tmpl.name, parent=parent, position=position)
            child.row = row
        # This coroutine runs on the run's loop (see call, route_call): kept, as 3.11's
        # get_running_loop (asyncio.current_task's too) is a getpid system call (issue 20)
        loop = self.loop or asyncio.get_running_loop()
        # The root's children are not tracked (nothing cancels them when it ends but the run)
        task = _task_on(loop) if parent.parent is not None else None
        tracked = task is not None and parent.live_children is not None
        counts = self.counts
        try:
            if identity not in self._specs:
                self._record_spec(tmpl)
            # built only if still queued; the only action in flight (a sequential chain's step)
            # takes no loop turn for it while the journal's batch timer is armed (RunJournal._idle)
            self.journal.action_running(self.run_name, action_id, row, _only_line(parent, counts[RUNNING]))
            counts[RUNNING] += 1
            if self.listeners:
                self._emit("start", child, RUNNING)
            if tracked:
                parent.live_children[action_id] = task  # type: ignore[assignment]
            if self.slots is not None:  # no coroutine per step without a concurrency limit
                await self._release_parent_slot(parent)
        except BaseException as e:  # never leave a serialized key held (waiters would wait forever)
            if owner is not None:
                self._serial_done(
                    cache_key, owner, lease, ABORTED if isinstance(e, asyncio.CancelledError) else FAILED
                )
            raise
        try:
            if tmpl.timeout is None:  # no deadline: one coroutine frame less per step
                out = await self._attempts(tmpl, child, inputs, pac, row)
            else:
                out = await self._run_with_policy(tmpl, child, inputs, pac, row)
            out, enc_out = _checked_output(tmpl, codec, out, texts)
            stored = (
                bytes(enc_out)
                if len(enc_out) <= JOURNAL_INLINE_LIMIT
                else await self._store_retried(action_id, "outputs", enc_out)
            )
        except asyncio.CancelledError:
            if owner is not None:
                self._serial_done(cache_key, owner, lease, ABORTED)
            self._ended_aborted(child, row)
            raise
        except BaseException as e:
            if owner is not None:
                self._serial_done(cache_key, owner, lease, FAILED)
            raise await self._ended_failed(e, child, row) from None
        finally:
            if tracked:
                parent.live_children.pop(action_id, None)
            if self.slots is not None:
                await self._reacquire_parent_slot(parent)
        outcome = FAILED  # the entry was not written: a waiter computes it (see _serialized)
        try:
            entry = None
            if cache_key is not None:
                entry = CacheEntry(cache_key, tmpl.name, stored, time.time(), self.run_name, action_id)
            if lease is not None:  # released in the same group commit as the entry (one transaction)
                for stmt, params in lease.release_with_entry():
                    self.journal.write(stmt, params)
            await self.journal.action_finished(
                row.params(SUCCEEDED, child.attempt + 1, stored, None),
                entry,
                loop,
                _only_line(parent, counts[RUNNING] - 1),
            )
            outcome, lease = SUCCEEDED, None
        finally:
            if owner is not None:
                self._serial_done(cache_key, owner, lease, outcome)
        counts[RUNNING] -= 1
        counts[SUCCEEDED] += 1
        if counts[RUNNING] + self._called < self._gc_narrow_below:  # most of a fan-out has ended
            self._gc_follow()
        if self.listeners:
            self._emit("end", child, SUCCEEDED)
        return out

    def copy_recovered(
        self, action_id: str, parent_id: str | None = None, position: int | None = None
    ) -> None:
        """Copy an action reused from another run, with what ran below it, into this run's record.

        The new run's record is then complete on its own (``flyte runs show``, and a later run can
        recover from it); the source run's record is not changed.
        """
        if self.recovered_from is None:
            return
        rows = []
        for r in self.journal.subtree(self.recovered_from, action_id):
            r = r._replace(run=self.run_name)
            if r.action_id == action_id and position is not None:
                r = r._replace(parent_id=parent_id, position=position)  # where the new run called it
            rows.append(r)

        def write() -> None:
            for r in rows:
                self.journal.action_ended(r)

        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop or self.loop is None:
            write()
        else:
            self.loop.call_soon_threadsafe(write)

    async def _serialized(
        self, key: str, max_age: float | None, row: _Row
    ) -> tuple[bytes | None, asyncio.Future[None] | None, Lease | None]:
        """``Cache(serialize=True)``: one call per key computes; identical calls wait for its entry.

        Returns the entry, or ``(None, owner, lease)`` when this call is to compute it (``owner`` and
        ``lease`` are given up by ``_serial_done``). Calls of this run wait on ``owner``; the first of
        them holds the journal's lease for the key, which other runs and processes wait on
        (``flyte._runtime.leases``). When the computing call fails, one waiter computes in its turn:
        a failure is never reused, each caller gets its own result or its own error.
        """
        while True:
            running = self._serializing.get(key)
            if running is None:
                owner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._serializing[key] = owner
                lease_owner = LeaseOwner(self.run_name, row.fixed[1], row.base, os.getpid(), host_id())
                try:
                    hit, lease = await acquire_or_reuse(self.journal.journal, key, lease_owner, max_age)
                except BaseException:
                    self._serial_done(key, owner, None, ABORTED)
                    raise
                if hit is not None:
                    self._serial_done(key, owner, None, SUCCEEDED)
                    return hit, None, None
                return None, owner, lease
            await asyncio.shield(running)
            hit = self.journal.cache_get(key, max_age)
            if hit is not None:
                return hit, None, None

    def _serial_done(
        self, key: str | None, owner: asyncio.Future[None], lease: Lease | None, outcome: str
    ) -> None:
        if lease is not None:
            lease.release(outcome.lower())
        if key is not None and self._serializing.get(key) is owner:
            del self._serializing[key]
        if not owner.done():
            owner.set_result(None)

    async def _run_with_policy(
        self,
        tmpl: TaskTemplate[Any, Any],
        child: ActionState,
        inputs: dict[str, Any],
        pac: ActionContext,
        row: _Row,
    ) -> Any:
        timeout = tmpl.timeout
        deadline = timeout.deadline_seconds if timeout is not None else None
        if deadline is None:
            return await self._attempts(tmpl, child, inputs, pac, row)
        try:
            async with asyncio.timeout(deadline) as cm:
                return await self._attempts(tmpl, child, inputs, pac, row)
        except TimeoutError:
            if not cm.expired():
                raise
            raise _Exhausted(
                DeadlineExceededError(
                    f"Task {tmpl.name!r} passed its deadline of {deadline:g}s after {child.attempt + 1} "
                    "attempt(s); no further retries."
                ),
                child.attempt + 1,
                False,
            ) from None

    async def _attempts(
        self,
        tmpl: TaskTemplate[Any, Any],
        child: ActionState,
        inputs: dict[str, Any],
        pac: ActionContext,
        row: _Row,
        attempt: int = 0,
        system_failures: int = 0,
    ) -> Any:
        """Every attempt of one action (``attempt``, ``system_failures``: where a caller that made
        the first attempt itself, ``_submit_plain``, hands over)."""
        retries = tmpl.retries.count
        max_rt = tmpl.timeout.max_runtime_seconds if tmpl.timeout is not None else None
        # A plain async function task run inline with no max_runtime and no concurrency limit: its
        # body is awaited here (what _dispatch would do, one coroutine frame and its checks less).
        plain = (
            max_rt is None
            and self.slots is None
            and tmpl.task_type == "python"
            and (self.workers is None or (child.row is not None and child.row.mode == "inline"))
            and _plain_async(tmpl)
        )
        # A python task in a worker process with no max_runtime and no concurrency limit: handed to
        # its place here (no _dispatch frame, no action context: the worker sets its own; issue 20).
        proc: Process | None = None
        if (
            not plain
            and max_rt is None
            and self.slots is None
            and self.workers is not None
            and tmpl.task_type == "python"
            and child.row is not None
            and child.row.mode == "process"
        ):
            place = self.workers.placement("process")
            proc = place if type(place) is Process else None
        user_failures = 0  # what RetryStrategy counts; system failures (storage) are retried apart
        while True:
            child.attempt = attempt
            child.report = None
            if tmpl.report:
                from flyte.report._api import new_report

                child.report = new_report(child)
            started = time.time()
            try:
                try:
                    if plain:
                        ac = ActionContext(self, child, False, pac.group, pac.custom)  # (in_trace=False)
                        token = current_action.set(ac)
                        try:
                            return await tmpl.func(**inputs)  # type: ignore[attr-defined]
                        finally:
                            if child.live_children:
                                self._abort_orphans(child)
                            current_action.reset(token)
                    if proc is not None:
                        try:
                            return await proc.run_with(tmpl, child, inputs, pac.group, dict(pac.custom))
                        finally:
                            if child.live_children:
                                self._abort_orphans(child)
                    return await self._dispatch(tmpl, child, inputs, pac, max_rt)
                finally:
                    if child.log is not None:
                        self._save_log(child, attempt, tmpl.task_type != "python")
                    if child.report is not None:
                        from flyte._runtime import reports

                        reports.keep(self, child)
            except asyncio.CancelledError:
                self.journal.attempt_finished(
                    AttemptRow(
                        self.run_name,
                        child.action_id,
                        row.base + attempt,
                        ABORTED,
                        started,
                        time.time(),
                        None,
                    )
                )
                raise
            except Exception as e:
                self.journal.attempt_finished(
                    AttemptRow(
                        self.run_name,
                        child.action_id,
                        row.base + attempt,
                        FAILED,
                        started,
                        time.time(),
                        error_record(e),
                    ),
                )
                if isinstance(e, StorageError):
                    system_failures += 1
                    if _settled(e) or system_failures > system_retries():
                        _settle(e)  # a child's failure (already retried there) or retries spent
                        raise _Exhausted(e, attempt + 1, False) from None
                    _warn_system_retry(tmpl, e, system_failures)
                    await asyncio.sleep(system_retry_delay(system_failures))
                else:
                    if isinstance(e, NonRecoverableError) or user_failures >= retries:
                        raise _Exhausted(
                            e, attempt + 1, retries > 0 and not isinstance(e, NonRecoverableError)
                        ) from None
                    backoff = tmpl.retries.backoff
                    if backoff is not None:
                        await asyncio.sleep(backoff.delay(user_failures))
                    user_failures += 1
                attempt += 1
                self.journal.action_started(row.params(RUNNING, attempt, None, None))

    async def _dispatch(
        self,
        tmpl: TaskTemplate[Any, Any],
        child: ActionState,
        inputs: dict[str, Any],
        pac: ActionContext,
        max_rt: float | None = None,
    ) -> Any:
        """One attempt: wait for a place (``max_action_concurrency``), then run within ``max_runtime``."""
        backend = None if tmpl.task_type == "python" else self._backend(tmpl)
        if backend is not None:
            in_process = getattr(backend, "runs_in_process", None)
            if in_process is not None and in_process(tmpl):
                backend = None  # the task type's backend hands this one to the in-process path
        token = current_action.set(ActionContext(self, child, group=pac.group, custom=pac.custom))
        try:
            if self.slots is not None:
                if self.slots.locked():
                    self.mark_queued(child)
                try:
                    await self._acquire_slot(tmpl)
                except BaseException:  # cancelled, or max_queued_time passed: it never ran
                    self.unqueue(child)
                    raise
                self.mark_admitted(child)
                child.holds_slot = True
            try:
                if max_rt is not None:  # the clock starts once the action has its place
                    try:
                        async with asyncio.timeout(max_rt) as cm:
                            return await self._body(backend, tmpl, child, inputs)
                    except TimeoutError:
                        if not cm.expired():
                            raise
                        raise MaxRuntimeExceededError(
                            f"Task {tmpl.name!r} attempt {child.attempt + 1} ran longer than its timeout "
                            f"of {max_rt:g}s"
                        ) from None
                if backend is None:
                    row = child.row
                    mode = (
                        "inline"
                        if self.workers is None
                        else row.mode
                        if row is not None
                        else self.workers.mode(tmpl, child)
                    )
                    if mode == "inline":
                        if _plain_async(tmpl):  # straight to the body: three coroutine frames less
                            return await tmpl.func(**inputs)  # type: ignore[attr-defined]
                        return await INLINE.run(tmpl, child, inputs)
                    assert self.workers is not None  # straight to its place: the mode is known
                    return await self.workers.placement(mode).run(tmpl, child, inputs)
                return await self._body(backend, tmpl, child, inputs)
            finally:
                if child.holds_slot and self.slots is not None:
                    self.slots.release()
                    child.holds_slot = False
                    self.mark_released(child)
                self.unqueue(child)  # e.g. cancelled while it waited for a thread of the sync pool
                self._abort_orphans(child)
        finally:
            current_action.reset(token)

    async def _body(
        self, backend: Any, tmpl: TaskTemplate[Any, Any], child: ActionState, inputs: dict[str, Any]
    ) -> Any:
        if backend is None:
            if self.workers is not None and self.workers.mode(tmpl, child) != "inline":
                return await self.workers.run(tmpl, child, inputs)  # a worker process or a container
            return await INLINE.run(tmpl, child, inputs)
        ectx = self._exec_ctx(child)
        if hasattr(backend, "create"):
            return await self._run_connector(backend, tmpl, inputs, ectx)
        return await backend.run(tmpl, inputs, ectx)

    def mark_queued(self, child: ActionState) -> None:
        """The action waits for a place: the live view shows it QUEUED, not RUNNING."""
        if child.queued:
            return
        child.queued = True
        child.released = False
        self.counts[QUEUED] += 1
        if child.row is not None:
            self.journal.action_started(child.row.params(QUEUED, child.attempt, None, None))
        self._emit("queued", child, QUEUED)

    def mark_admitted(self, child: ActionState) -> None:
        """The action got its place (or stopped waiting): RUNNING again in the live view."""
        if child.released:  # a retry got a place again
            child.released = False
            self._emit("running", child, RUNNING)
        if not child.queued:
            return
        child.queued = False
        self.counts[QUEUED] -= 1
        if child.row is not None:
            self.journal.action_started(child.row.running(child.attempt))
        self._emit("running", child, RUNNING)

    def unqueue(self, child: ActionState) -> None:
        """The action stopped waiting without getting a place (cancelled): no event, its end follows."""
        if child.queued:
            child.queued = False
            self.counts[QUEUED] -= 1

    def mark_released(self, child: ActionState) -> None:
        """The action's body ended and its place went to the next one: while its result is being
        recorded the live view no longer counts it among the running."""
        if not child.released:
            child.released = True
            if self.listeners:
                self._emit("released", child, RUNNING)

    async def _acquire_slot(self, tmpl: TaskTemplate[Any, Any]) -> None:
        assert self.slots is not None
        queued = tmpl.timeout.max_queued_seconds if tmpl.timeout is not None else None
        if queued is None:
            await self.slots.acquire()
            return
        try:
            async with asyncio.timeout(queued) as cm:
                await self.slots.acquire()
        except TimeoutError:
            if not cm.expired():
                raise
            raise MaxQueuedTimeExceededError(
                f"Task {tmpl.name!r} waited longer than its max_queued_time of {queued:g}s for a place "
                f"(max_action_concurrency)"
            ) from None

    async def _run_connector(
        self, backend: Any, tmpl: TaskTemplate[Any, Any], inputs: dict[str, Any], ectx: ExecutionContext
    ) -> Any:
        """create/get/delete: poll a remote job with backoff; re-attach after a crash; cancel on abort."""
        from flyte._plugins.contract import connector_meta_from_json, connector_meta_to_json
        from flyte._runtime.connector_loop import run_connector

        rec = self.recorded.get(ectx.action_id)
        meta = None
        if (
            rec is not None
            and rec.meta
            and rec.status == RUNNING  # a job cancelled or failed before the crash is not re-attached
            and (rec.identity is None or rec.identity == tmpl.identity)
        ):
            meta = connector_meta_from_json(rec.meta)

        async def record(created: Any) -> None:
            await self.journal.connector_created(
                self.run_name, ectx.action_id, connector_meta_to_json(created)
            )

        return await run_connector(backend, tmpl, inputs, ectx, meta=meta, on_created=record)

    def _abort_orphans(self, action: ActionState) -> None:
        """Children still running when their parent ends are cancelled (and recorded as aborted)."""
        if action.live_children:
            for t in list(action.live_children.values()):
                if not t.done() and t is not asyncio.current_task():
                    t.cancel()
                    self._aborted.add(t)
                    t.add_done_callback(self._aborted.discard)
            action.live_children.clear()

    async def settle_aborted(self) -> None:
        """Wait, up to ``ABORT_GRACE_S``, for the children cancelled by their parent's end to finish
        cleaning up (a connector cancelling its remote job, after its submission in flight returns).

        Without it the run ended first and the event loop's close cancelled that cleanup half-way: on
        a loaded machine a BigQuery job was left running."""
        pending = {t for t in self._aborted if not t.done()}
        if pending:
            await asyncio.wait(pending, timeout=ABORT_GRACE_S)

    async def _release_parent_slot(self, parent: ActionState) -> None:
        if self.slots is None:
            return
        parent.waiting_children += 1
        if parent.holds_slot and parent.waiting_children == 1:
            self.slots.release()
            parent.holds_slot = False

    async def _reacquire_parent_slot(self, parent: ActionState) -> None:
        if self.slots is None:
            return
        parent.waiting_children -= 1
        if parent.waiting_children == 0 and parent.parent is not None and not parent.holds_slot:
            await self.slots.acquire()
            parent.holds_slot = True

    def _backend(self, tmpl: TaskTemplate[Any, Any]) -> Any:
        key = (tmpl.task_type, tmpl.task_type_version)
        try:
            return self._backends[key]
        except KeyError:
            pass
        if tmpl.task_type == "python":
            backend = None  # the built-in in-process path; no plugin lookup on the hot path
        else:
            from flyte._plugins.manager import declared_distribution, find_task_type_entry, task_type_entry
            from flyte._task import TaskTemplate

            entry = find_task_type_entry(tmpl.task_type, tmpl.task_type_version)
            if entry is None and (
                type(tmpl).plugin_optional
                or (type(tmpl).execute is not TaskTemplate.execute and declared_distribution(tmpl) is None)
            ):
                # A type whose plugin is optional here (a pod template matters on a cluster only), or a
                # TaskTemplate subclass of the user's own that nobody registered: its own execute()
                # runs here, as on the anchor. A class that a plugin provides is an install mistake,
                # reported by task_type_entry below with what to install.
                self._backends[key] = None
                return None
            if entry is None:
                entry = task_type_entry(tmpl.task_type, tmpl.task_type_version, template=tmpl)
            backend = entry.backend() if isinstance(entry.backend, type) else entry.backend
        self._backends[key] = backend
        return backend

    def _exec_ctx(self, child: ActionState) -> ExecutionContext:
        return ExecutionContext(
            run_name=self.run_name,
            action_id=child.action_id,
            attempt=child.attempt,
            run_prefix=self.run_prefix,
            store=self.store,
            journal=self.journal,
            data=child.data,
            env_vars=self.env_vars,
        )

    # ---- what describes an action besides its values ------------------------------------------------
    def _record_spec(self, tmpl: TaskTemplate[Any, Any]) -> None:
        """The task's spec (resources, image, plugin config...), once per task identity and run."""
        self._specs.add(tmpl.identity)
        try:
            from flyte._serialization import SerializationContext
            from flyte._spec_data import task_spec_json

            text = task_spec_json(tmpl, SerializationContext())  # no pydantic model (issue 20)
        except Exception as e:  # a hook that cannot serialise here must not stop the action
            text = json.dumps({"name": tmpl.name, "error": f"{type(e).__name__}: {e}"})
        self.journal.record_spec(tmpl.identity, tmpl.name, text)

    def _save_log(self, action: ActionState, attempt: int, beside_backend: bool = False) -> None:
        from flyte._runtime import logs

        text = logs.take(action)
        if text:
            self.save_log(action.action_id, attempt, text, beside_backend)

    def save_log(self, action_id: str, attempt: int, text: str, beside_backend: bool = False) -> None:
        """An attempt's output into the run's store; a plugin backend's own log keeps its name."""
        from flyte._runtime import logs

        path = logs.log_path(self.run_prefix, action_id, attempt)
        if beside_backend:
            path = path[: -len(".log")] + ".driver.log"
        try:
            self.store.put_bytes(path, text.encode("utf-8", "replace"))
        except Exception as e:  # a log that cannot be kept never fails the action
            import warnings

            if isinstance(e, StorageError):  # the store is failing: say so once, not per action
                if getattr(self, "_log_fault_warned", False):
                    return
                self._log_fault_warned = True
            warnings.warn(f"could not keep the log of action {action_id}: {e}", RuntimeWarning, stacklevel=2)

    # ---- values too large for the journal ------------------------------------------------------------
    def store_value(self, action_id: str, name: str, data: bytes | TextParts) -> bytes:
        return store_value(self.store, self.run_prefix, action_id, name, data)

    async def _store_retried(self, action_id: str, name: str, data: bytes | TextParts) -> bytes:
        """``store_value`` with the system retries: a value that was computed is not computed again."""
        failures = 0
        while True:
            try:
                return self.store_value(action_id, name, data)
            except StorageError as e:
                failures += 1
                if failures > system_retries():
                    _settle(e)
                    raise
                _warn_system_retry(None, e, failures)
                await asyncio.sleep(system_retry_delay(failures))

    def load_value(self, data: bytes) -> bytes:
        return load_value(self.store, data)

    def _emit(self, event: str, action: ActionState, status: str) -> None:
        for listener in self.listeners:
            try:
                listener(event, action, status)
            except Exception:
                pass

    def close(self) -> None:
        self.sync_pool.shutdown(wait=False, cancel_futures=True)
        if self.workers is not None:
            self.workers.close()  # no worker process outlives its run


def _only_line(parent: ActionState, running: int) -> bool:
    """The ``running`` actions counted RUNNING are ``parent`` and its ancestors, each awaiting the
    one below: a child of ``parent`` is then the only action making progress (a sequential chain's
    step). A hint for the journal's scheduling (``RunJournal._idle`` decides what is safe)."""
    p = parent
    while running and p.parent is not None:  # (the run's root pseudo-action is not counted)
        running -= 1
        p = p.parent
    return not running


def _warn_system_retry(tmpl: TaskTemplate[Any, Any] | None, e: BaseException, n: int) -> None:
    import logging

    what = f"task {tmpl.name!r}" if tmpl is not None else "storing a value"
    logging.getLogger("flyte.storage").warning(
        "%s: %s; system retry %d/%d (the task's own retries are not used)", what, e, n, system_retries()
    )


async def _await_future(fut: concurrent.futures.Future[Any]) -> Any:
    return await asyncio.wrap_future(fut)


def route_call(
    tmpl: TaskTemplate[Any, Any],
    pac: ActionContext,
    via_aio: bool,
    loop: asyncio.AbstractEventLoop | None,
    pool: SyncPool,
    submit: Callable[[], Coroutine[Any, Any, Any]],
) -> Any:
    """A child task call from any thread: ``submit()`` on the run's ``loop`` (a coroutine to await
    there), awaited from another loop, or waited for from a sync body (its pool thread lent out).

    Shared by every ``ControllerAPI``: the driver's ``submit`` runs the child, a worker's asks the
    driver to."""
    if pac.in_trace:
        raise TraceDoesNotAllowNestedTasksError(
            f"Task {tmpl.name!r} was called inside a flyte.trace function; traces record plain "
            "functions only. Call the task from the parent task instead."
        )
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None and tmpl.is_sync and not via_aio:
        raise SyncTaskCallInAsyncContextError(
            f"Sync task {tmpl.name!r} was called from async code without awaiting: use "
            f"'await {tmpl.short_name or tmpl.name}.aio(...)' (or make the task async)."
        )
    if running is loop:
        return submit()
    # Off the run's loop (a sync parent on a worker thread, or an event loop of its own there):
    # the child runs on the run's loop; this thread waits for it or awaits it.
    assert loop is not None
    fut = asyncio.run_coroutine_threadsafe(submit(), loop)
    if via_aio or running is not None:
        return _await_future(fut)
    with pool_blocked(pool):
        return fut.result()


def store_value(
    store: ObjectStore, run_prefix: str, action_id: str, name: str, data: bytes | TextParts
) -> bytes:
    """``data`` as the journal keeps it: inline up to ``JOURNAL_INLINE_LIMIT``, else ``R<uri>``.
    :class:`TextParts` (a long text, unjoined) are written in slices where the store can."""
    if isinstance(data, TextParts):
        put = getattr(store, "put_parts", None)
        if put is None:
            data = bytes(data)
        else:
            uri: str = put(join(run_prefix, action_id, name), data)
            return b"R" + uri.encode()
    if len(data) <= JOURNAL_INLINE_LIMIT:
        return data
    uri = store.put_bytes(join(run_prefix, action_id, name), data)
    return b"R" + uri.encode()


def load_value(store: ObjectStore, data: bytes) -> bytes:
    """The bytes ``store_value`` kept."""
    if data[:1] == b"R":
        return store.get_bytes(data[1:].decode())
    return data


class _Exhausted(Exception):
    """Internal carrier: the final error of an action and how many attempts it took."""

    def __init__(self, error: BaseException, attempts: int, exhausted: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
        self.exhausted = exhausted


_new_row = tuple.__new__
_new_obj: Callable[[type[Any]], Any] = object.__new__
_INT_STORED = JSON_TAG.replace(b"%", b"%%") + b"%d"
"""An int output's stored bytes: ``_INT_STORED % out`` is ``JSON_TAG + int.__repr__(out).encode()``."""
_INT_STORED_BLOB = bytearray(_INT_STORED)
"""The same as a bytearray (``bytearray % x`` is a bytearray): what a done row binds (``_submit_plain``)."""
_TAG_BLOB = bytearray(JSON_TAG)
"""``JSON_TAG`` as a bytearray: ``_TAG_BLOB + body`` is a done row's inputs (``_submit_plain``)."""

_PLAIN_CLASSES: dict[type, bool] = {}


def _plain_async(tmpl: TaskTemplate[Any, Any]) -> bool:
    """Whether ``run_hooks`` of this task would only await ``tmpl.func(**inputs)``: a function task
    whose class overrides none of ``pre``/``execute``/``post``/``run_hooks``, with an async body."""
    got = tmpl.__dict__.get("_plain_async")
    if got is not None:
        return got  # type: ignore[no-any-return]
    cls = tmpl.__class__
    plain = _PLAIN_CLASSES.get(cls)
    if plain is None:
        from flyte._task import AsyncFunctionTaskTemplate, TaskTemplate

        plain = _PLAIN_CLASSES[cls] = (
            issubclass(cls, AsyncFunctionTaskTemplate)
            and cls.execute is AsyncFunctionTaskTemplate.execute
            and cls.run_hooks is TaskTemplate.run_hooks
            and cls.pre is TaskTemplate.pre
            and cls.post is TaskTemplate.post
        )
    got = tmpl.__dict__["_plain_async"] = plain and not tmpl.is_sync  # type: ignore[attr-defined]
    return got  # type: ignore[no-any-return]


class _Plain:
    """The template's half of ``Controller.call``'s choice of ``_submit_plain``, and what that path
    reads from the template, gathered once per template (issue 20: one lookup per child instead of a
    dozen). Kept in ``tmpl.__dict__["_flyte_plain"]``; ``TaskTemplate.__setattr__`` drops it when a
    field changes, so a template edited after a call is judged again."""

    __slots__ = (
        "call_id",
        "codec",
        "func",
        "id_head",
        "identity",
        "inline",
        "int_body",
        "int_in",
        "int_out",
        "key_head",
        "key_tail",
        "limit",
        "max_age",
        "max_in",
        "name",
        "one_name",
        "positional",
        "task_type",
        "uncached",
    )

    def __init__(self, tmpl: TaskTemplate[Any, Any], inline: bool) -> None:
        self.codec = tmpl.__dict__.get("_codec") or interface_codec(tmpl)
        self.call_id = tmpl.__dict__.get("_call_identity") or call_identity(tmpl)
        self.identity: str = tmpl.__dict__.get("_identity") or tmpl.identity
        self.func: Callable[..., Coroutine[Any, Any, Any]] = tmpl.func  # type: ignore[attr-defined]
        self.name = tmpl.name
        self.limit = tmpl.max_inline_io_bytes
        self.max_in = min(self.limit, JOURNAL_INLINE_LIMIT)  # larger inputs take submit (stored or refused)
        codec = self.codec
        self.one_name: str = codec.one_name or ""  # (set wherever encode_one gives inputs)
        self.int_in = codec.one_name is not None and codec.one_hint is int  # encode_one's int branch
        # that branch's body for an int x is int_body % x: (one_head + int.__repr__(x) + "}").encode()
        self.int_body = codec.one_head.encode().replace(b"%", b"%%") + b"%d}"
        self.task_type = tmpl.task_type
        # (a parent's action ID, the action-ID digest with f"{parent_id}|{call_id}|" absorbed)
        self.id_head: tuple[str | None, Any] = (None, None)
        prim = codec.output.prim
        # an int returned for an int output is checked and encoded at once (a float output takes
        # validate_output, which makes it a float)
        self.int_out = prim is not None and prim[0] is int
        # func(x) binds the one input as func(**{name: x}) does: a plain function whose only
        # parameter is that one, positional-or-keyword (no *args, **kwargs, keyword- or positional-only)
        from inspect import CO_VARARGS, CO_VARKEYWORDS

        code = getattr(self.func, "__code__", None)
        self.positional = (
            self.func.__class__ is types.FunctionType
            and code is not None
            and code.co_argcount == 1
            and code.co_posonlyargcount == 0
            and code.co_kwonlyargcount == 0
            and not code.co_flags & (CO_VARARGS | CO_VARKEYWORDS)
            and code.co_varnames[0] == codec.one_name
        )
        self.inline = inline  # its own isolation is inline (what default_mode finds)
        self.uncached = tmpl.cache.behavior == "disable"  # else plain only where the run disables the cache
        # A cache read from these parts (_submit_hit): identity.cache_key's digest head and tail, the
        # entry's max age; None where the key or the read differ ('override', ignored inputs).
        cache = tmpl.cache
        self.key_head: Any = None
        self.key_tail = ""
        self.max_age = cache.max_age_seconds if cache.max_age is not None else None
        if cache.behavior == "auto" and not cache.ignored_inputs:
            try:
                name_iface, version = cache_version(tmpl)
            except Exception:  # (a policy that fails): submit raises it where the call is awaited
                return
            self.key_head = _BLAKE16.copy()
            self.key_head.update(f"{name_iface}|".encode())
            self.key_tail = f"|{version}|{cache.salt}"


def _plain_parts(tmpl: TaskTemplate[Any, Any]) -> _Plain | None:
    """A :class:`_Plain` for a template a child call may take ``_submit_plain`` for (no timeout,
    retries, report; a python task with a plain async body), else ``None`` (kept as ``False``)."""
    got: _Plain | None = None
    if (
        tmpl.timeout is None
        and tmpl.retries.count == 0
        and not tmpl.report
        and tmpl.task_type == "python"
        and _plain_async(tmpl)
    ):
        try:
            got = _Plain(tmpl, default_mode(tmpl) == "inline")
        except Exception:  # (e.g. an include gone): not kept; submit raises it where the call is awaited
            return None
    tmpl.__dict__["_flyte_plain"] = got or False
    return got


class _Row(PendingStart):
    """Builds the actions-table row for one child; most columns never change."""

    __slots__ = ("_running", "base", "fixed", "group", "inputs", "mode", "started")

    def __init__(
        self,
        run: str,
        action_id: str,
        parent_id: str | None,
        position: int,
        tmpl: TaskTemplate[Any, Any],
        identity: str,
        group: str | None,
        inputs: bytes,
    ) -> None:
        self.fixed = (run, action_id, parent_id, position, "task", tmpl.name, identity, tmpl.task_type)
        self.group = group
        self.inputs = inputs
        self.started = time.time()
        self.mode = "inline"
        self.base = 0  # attempts recorded by earlier executions of this run (see Controller.attempt_base)
        self._running: ActionRow | None = None

    def running(self, attempts: int = 0) -> ActionRow:
        """The RUNNING row of a try, built once (also what ``RunJournal.action_running`` builds for a
        first try still queued at the commit): an action queued for a place writes it again once
        admitted (issue 20); rebuilt only when a column it holds changed."""
        row = self._running  # [9] attempts, [16] group, [17] mode
        if (
            row is None
            or row[9] != self.base + attempts
            or row[16] is not self.group
            or row[17] is not self.mode
        ):
            row = self._running = self.params(RUNNING, attempts, None, None)
        return row

    def cached(self, outputs: bytes) -> ActionRow:
        """The row of a cache hit: ``params(SUCCEEDED, 0, outputs, None, cached=1)``, one call less."""
        return _new_row(
            ActionRow,
            (
                *self.fixed,
                SUCCEEDED,
                self.base,
                1,
                self.started,
                time.time(),
                self.inputs,
                outputs,
                None,
                self.group,
                self.mode,
                None,
            ),
        )

    def params(
        self, status: str, attempts: int, outputs: bytes | None, error: str | None, cached: int = 0
    ) -> ActionRow:
        ended = None if status == RUNNING or status == QUEUED else time.time()
        # tuple.__new__ straight: the NamedTuple's generated __new__ is a Python call per row
        return _new_row(
            ActionRow,
            (
                *self.fixed,
                status,
                self.base + attempts,
                cached,
                self.started,
                ended,
                self.inputs,
                outputs,
                error,
                self.group,
                self.mode,
                None,
            ),
        )


def interface_codec(tmpl: TaskTemplate[Any, Any]) -> InterfaceCodec:
    d = tmpl.__dict__
    codec = d.get("_codec")
    if codec is None:
        codec = InterfaceCodec(tmpl.name, tmpl.interface.inputs, tmpl.interface.output)
        d["_codec"] = codec
    return codec  # type: ignore[no-any-return]


def _checked_output(
    tmpl: TaskTemplate[Any, Any], codec: InterfaceCodec, out: Any, texts: tuple[str, ...]
) -> tuple[Any, bytes | TextParts]:
    """A body's output validated and encoded, within the task's inline limit (both submit paths).
    ``texts``: the action's input texts already found plain (a returned one is not scanned again)."""
    prim = codec.output.prim
    if out.__class__ is int and prim is not None and prim[0] is int:
        enc: bytes | TextParts = JSON_TAG + int.__repr__(out).encode()  # validate + encode, two calls fewer
    else:
        out = codec.validate_output(out)
        enc = codec.encode_output_lazy(out, texts)
    if len(enc) > tmpl.max_inline_io_bytes:
        raise _inline_breach(tmpl, codec, None, len(enc))
    return out, enc


def _inline_breach(
    tmpl: TaskTemplate[Any, Any], codec: InterfaceCodec, inputs: dict[str, Any] | None, size: int
) -> InlineIOMaxBytesBreached:
    what = "its return value"
    if inputs is not None:
        sizes = {k: len(json.dumps(codec.inputs[k].to_jsonable(v), default=str)) for k, v in inputs.items()}
        biggest = max(sizes, key=lambda k: sizes[k]) if sizes else "?"
        what = f"input {biggest!r}"
    return InlineIOMaxBytesBreached(
        f"Task {tmpl.name!r}: {what} is {size:,} bytes inline, above the limit of "
        f"{tmpl.max_inline_io_bytes:,} bytes (max_inline_io_bytes). Pass large data as flyte.io.File or "
        "flyte.io.Dir (offloaded by reference), or raise max_inline_io_bytes on the task."
    )


def aborted_error() -> str:
    """The error recorded for an action that was aborted."""
    return error_record(
        ActionAbortedError("The action was aborted: its parent ended, failed or was cancelled.")
    )
