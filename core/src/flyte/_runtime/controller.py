"""The controller: every task call inside a run goes through ``Controller.submit``.

identity -> recorded result (recovery) -> cache -> journal -> dispatch to the task type's backend
-> retries and timeouts -> durable record -> result to the parent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flyte._context import ActionContext, current_action
from flyte._runtime.codec import InterfaceCodec, digest
from flyte._runtime.errors_bridge import as_user_error, error_record
from flyte._runtime.journal import INSERT_ATTEMPT, PUT_CACHE, SET_META, UPSERT_ACTION, Journal
from flyte._runtime.store import ObjectStore, join
from flyte.errors import (
    ActionAbortedError,
    DeadlineExceededError,
    InlineIOMaxBytesBreached,
    MaxRuntimeExceededError,
    NonDeterminismError,
    NonRecoverableError,
    SyncTaskCallInAsyncContextError,
    TraceDoesNotAllowNestedTasksError,
)

if TYPE_CHECKING:
    from flyte._task import TaskTemplate

RUNNING, SUCCEEDED, FAILED, ABORTED = "RUNNING", "SUCCEEDED", "FAILED", "ABORTED"
JOURNAL_INLINE_LIMIT = 256 * 1024
"""Values above this size go to the object store; the journal keeps a reference."""


@dataclass
class RecordedAction:
    """What an earlier execution of this run recorded for one action (used on recovery)."""

    status: str
    task_name: str
    outputs: bytes | None
    meta: str | None


@dataclass(eq=False)
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

    def child_key(self, identity: str, inputs_hash: str) -> tuple[str, int]:
        """(action ID, position) for the next child call with this task and inputs."""
        k = (identity, inputs_hash)
        seq = self.seqs.get(k, 0)
        self.seqs[k] = seq + 1
        pos = self.next_position
        self.next_position = pos + 1
        return digest(f"{self.action_id}|{identity}|{inputs_hash}|{seq}"), pos


@dataclass
class ExecutionContext:
    """What a backend gets besides the template and inputs."""

    run_name: str
    action_id: str
    attempt: int
    run_prefix: str
    store: ObjectStore
    journal: Journal
    data: dict[str, Any]
    env_vars: Mapping[str, str]

    def action_prefix(self) -> str:
        return join(self.run_prefix, self.action_id)


Listener = Callable[[str, ActionState, str], None]


class Controller:
    """Orchestrates one run's actions on one event loop."""

    def __init__(
        self,
        run_name: str,
        journal: Journal,
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
    ) -> None:
        self.run_name = run_name
        self.journal = journal
        self.store = store
        self.run_prefix = run_prefix
        self.overwrite_cache = overwrite_cache
        self.disable_run_cache = disable_run_cache
        self.env_vars = dict(env_vars or {})
        self.recorded = recorded or {}
        self.recorded_positions = recorded_positions or {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sync_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=sync_workers or min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="flyte-sync"
        )
        self.slots = asyncio.Semaphore(max_action_concurrency) if max_action_concurrency else None
        self.listeners: list[Listener] = []
        self._backends: dict[tuple[str, int], Any] = {}
        self.counts = {RUNNING: 0, SUCCEEDED: 0, FAILED: 0, ABORTED: 0, "CACHED": 0, "RECOVERED": 0}

    # ---- entry from TaskTemplate.__call__ ---------------------------------------------------------
    def call(
        self, tmpl: TaskTemplate[Any, Any], pac: ActionContext, args: tuple[Any, ...], kwargs: dict[str, Any], via_aio: bool
    ) -> Any:
        if pac.in_trace:
            raise TraceDoesNotAllowNestedTasksError(
                f"Task {tmpl.name!r} was called inside a flyte.trace function; traces record plain "
                "functions only. Call the task from the parent task instead."
            )
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        if in_loop:
            if tmpl.is_sync and not via_aio:
                raise SyncTaskCallInAsyncContextError(
                    f"Sync task {tmpl.name!r} was called from async code without awaiting: use "
                    f"'await {tmpl.short_name or tmpl.name}.aio(...)' (or make the task async)."
                )
            return self.submit(tmpl, pac, args, kwargs)
        # A sync parent on a worker thread: block this thread, not the event loop.
        assert self.loop is not None
        fut = asyncio.run_coroutine_threadsafe(self.submit(tmpl, pac, args, kwargs), self.loop)
        if via_aio:
            return asyncio.wrap_future(fut)
        return fut.result()

    # ---- the pipeline -----------------------------------------------------------------------------
    async def submit(
        self, tmpl: TaskTemplate[Any, Any], pac: ActionContext, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        parent = pac.action
        codec = interface_codec(tmpl)
        inputs = tmpl.interface.bind(tmpl.name, args, kwargs)
        codec.validate_inputs(inputs)
        enc_inputs, inputs_hash = codec.encode_inputs(inputs)
        if len(enc_inputs) > tmpl.max_inline_io_bytes:
            raise _inline_breach(tmpl, codec, inputs, len(enc_inputs))
        action_id, position = parent.child_key(tmpl.identity, inputs_hash)
        rec = self.recorded.get(action_id)
        if rec is not None and rec.status == SUCCEEDED and rec.outputs is not None:
            self.counts["RECOVERED"] += 1
            return codec.decode_output(self._load(rec.outputs))
        prev = self.recorded_positions.get((parent.action_id, position))
        if rec is None and prev is not None and prev != tmpl.name:
            raise NonDeterminismError(
                f"Non-deterministic parent {parent.task_name!r}: call #{position} was {prev!r} when this run "
                f"was first executed, but is now {tmpl.name!r}. A recovered run must call the same tasks in "
                "the same order; start a new run instead of recovering this one."
            )
        child = ActionState(action_id=action_id, task_name=tmpl.name, parent=parent, position=position)
        parent_id = parent.action_id if parent.parent is not None else None
        row = _Row(self.run_name, action_id, parent_id, position, tmpl, pac.group, enc_inputs)

        cache_key = None
        if tmpl.cache.is_enabled() and not self.disable_run_cache:
            cache_key = _cache_key(tmpl, codec, inputs, inputs_hash)
            if not self.overwrite_cache:
                hit = self.journal.cache_get(cache_key)
                if hit is not None:
                    await self.journal.write_durable(UPSERT_ACTION, row.params(SUCCEEDED, 0, hit, None, cached=1))
                    self.counts["CACHED"] += 1
                    self._emit("cached", child, SUCCEEDED)
                    return codec.decode_output(self._load(hit))

        self.journal.write(UPSERT_ACTION, row.params(RUNNING, 0, None, None))
        self.counts[RUNNING] += 1
        self._emit("start", child, RUNNING)
        task = asyncio.current_task()
        tracked = task is not None and parent.live_children is not None and parent.parent is not None
        if tracked:
            parent.live_children[action_id] = task  # type: ignore[assignment]
        await self._release_parent_slot(parent)
        try:
            out = await self._run_with_policy(tmpl, child, inputs, pac, row)
            codec.validate_output(out)
            enc_out = codec.encode_output(out)
            if len(enc_out) > tmpl.max_inline_io_bytes:
                raise _inline_breach(tmpl, codec, None, len(enc_out))
        except asyncio.CancelledError:
            self.journal.write(UPSERT_ACTION, row.params(ABORTED, child.attempt + 1, None, _aborted_error()))
            self.counts[RUNNING] -= 1
            self.counts[ABORTED] += 1
            self._emit("end", child, ABORTED)
            raise
        except BaseException as e:
            err = e if isinstance(e, _Exhausted) else _Exhausted(e, child.attempt + 1, False)
            await self.journal.write_durable(
                UPSERT_ACTION, row.params(FAILED, err.attempts, None, error_record(err.error))
            )
            self.counts[RUNNING] -= 1
            self.counts[FAILED] += 1
            self._emit("end", child, FAILED)
            raise as_user_error(err.error, err.exhausted, err.attempts) from None
        finally:
            if tracked:
                parent.live_children.pop(action_id, None)
            await self._reacquire_parent_slot(parent)
        stored = self._store(action_id, "outputs", enc_out)
        extra: list[tuple[str, Any]] = []
        if cache_key is not None:
            extra.append((PUT_CACHE, (cache_key, tmpl.name, stored, time.time(), self.run_name, action_id)))
        await self.journal.write_durable(
            UPSERT_ACTION, row.params(SUCCEEDED, child.attempt + 1, stored, None), *extra
        )
        self.counts[RUNNING] -= 1
        self.counts[SUCCEEDED] += 1
        self._emit("end", child, SUCCEEDED)
        return out

    async def _run_with_policy(
        self, tmpl: TaskTemplate[Any, Any], child: ActionState, inputs: dict[str, Any], pac: ActionContext, row: _Row
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
        self, tmpl: TaskTemplate[Any, Any], child: ActionState, inputs: dict[str, Any], pac: ActionContext, row: _Row
    ) -> Any:
        retries = tmpl.retries.count
        max_rt = tmpl.timeout.max_runtime_seconds if tmpl.timeout is not None else None
        attempt = 0
        while True:
            child.attempt = attempt
            started = time.time()
            try:
                if max_rt is None:
                    return await self._dispatch(tmpl, child, inputs, pac)
                try:
                    async with asyncio.timeout(max_rt) as cm:
                        return await self._dispatch(tmpl, child, inputs, pac)
                except TimeoutError:
                    if not cm.expired():
                        raise
                    raise MaxRuntimeExceededError(
                        f"Task {tmpl.name!r} attempt {attempt + 1} ran longer than its timeout of {max_rt:g}s"
                    ) from None
            except asyncio.CancelledError:
                self.journal.write(INSERT_ATTEMPT, (self.run_name, child.action_id, attempt, ABORTED, started, time.time(), None))
                raise
            except Exception as e:
                self.journal.write(
                    INSERT_ATTEMPT, (self.run_name, child.action_id, attempt, FAILED, started, time.time(), error_record(e))
                )
                if isinstance(e, NonRecoverableError) or attempt >= retries:
                    raise _Exhausted(e, attempt + 1, retries > 0 and not isinstance(e, NonRecoverableError)) from None
                backoff = tmpl.retries.backoff
                if backoff is not None:
                    await asyncio.sleep(backoff.delay(attempt))
                attempt += 1
                self.journal.write(UPSERT_ACTION, row.params(RUNNING, attempt, None, None))

    async def _dispatch(
        self, tmpl: TaskTemplate[Any, Any], child: ActionState, inputs: dict[str, Any], pac: ActionContext
    ) -> Any:
        backend = self._backend(tmpl)
        token = current_action.set(ActionContext(self, child, group=pac.group, custom=pac.custom))
        try:
            if self.slots is not None:
                await self.slots.acquire()
                child.holds_slot = True
            try:
                if backend is None:
                    extra = await tmpl.pre()
                    if extra:
                        child.data.update(extra)
                    return await tmpl.post(await tmpl.execute(**inputs))
                ectx = self._exec_ctx(child)
                if hasattr(backend, "create"):
                    return await self._run_connector(backend, tmpl, inputs, ectx)
                return await backend.run(tmpl, inputs, ectx)
            finally:
                if child.holds_slot and self.slots is not None:
                    self.slots.release()
                    child.holds_slot = False
                self._abort_orphans(child)
        finally:
            current_action.reset(token)

    async def _run_connector(self, backend: Any, tmpl: TaskTemplate[Any, Any], inputs: dict[str, Any], ectx: ExecutionContext) -> Any:
        """create/get/delete: poll a remote job with backoff; re-attach after a crash; cancel on abort."""
        from flyte.extend import connector_meta_from_json, connector_meta_to_json

        rec = self.recorded.get(ectx.action_id)
        meta = None
        if rec is not None and rec.meta:
            meta = connector_meta_from_json(rec.meta)
        if meta is None:
            meta = await backend.create(tmpl, inputs, ectx)
            await self.journal.write_durable(SET_META, (connector_meta_to_json(meta), self.run_name, ectx.action_id))
        delay = 0.05
        try:
            while True:
                res = await backend.get(meta)
                phase = res.phase.upper()
                if phase in ("SUCCEEDED", "SUCCESS", "DONE"):
                    return res.outputs
                if phase in ("FAILED", "FAILURE", "ERROR", "ABORTED", "TIMEDOUT"):
                    if isinstance(res.error, BaseException):
                        raise res.error
                    raise RuntimeError(res.message or f"{tmpl.task_type} job failed")
                await asyncio.sleep(delay)
                delay = min(delay * 1.6, 5.0)
        except (asyncio.CancelledError, TimeoutError):
            await asyncio.shield(backend.delete(meta))
            raise

    def _abort_orphans(self, action: ActionState) -> None:
        """Children still running when their parent ends are cancelled (and recorded as aborted)."""
        if action.live_children:
            for t in list(action.live_children.values()):
                if not t.done() and t is not asyncio.current_task():
                    t.cancel()
            action.live_children.clear()

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
            from flyte._plugins.manager import task_type_entry

            entry = task_type_entry(tmpl.task_type, tmpl.task_type_version)
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

    # ---- values too large for the journal ------------------------------------------------------------
    def _store(self, action_id: str, name: str, data: bytes) -> bytes:
        if len(data) <= JOURNAL_INLINE_LIMIT:
            return data
        uri = self.store.put_bytes(join(self.run_prefix, action_id, name), data)
        return b"R" + uri.encode()

    def _load(self, data: bytes) -> bytes:
        if data[:1] == b"R":
            return self.store.get_bytes(data[1:].decode())
        return data

    def _emit(self, event: str, action: ActionState, status: str) -> None:
        for listener in self.listeners:
            try:
                listener(event, action, status)
            except Exception:
                pass

    def close(self) -> None:
        self.sync_pool.shutdown(wait=False, cancel_futures=True)


class _Exhausted(Exception):
    """Internal carrier: the final error of an action and how many attempts it took."""

    def __init__(self, error: BaseException, attempts: int, exhausted: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
        self.exhausted = exhausted


class _Row:
    """Builds the actions-table row for one child; most columns never change."""

    __slots__ = ("fixed", "group", "inputs", "started")

    def __init__(
        self, run: str, action_id: str, parent_id: str | None, position: int, tmpl: TaskTemplate[Any, Any],
        group: str | None, inputs: bytes,
    ) -> None:
        self.fixed = (run, action_id, parent_id, position, "task", tmpl.name, tmpl.identity, tmpl.task_type)
        self.group = group
        self.inputs = inputs
        self.started = time.time()

    def params(self, status: str, attempts: int, outputs: bytes | None, error: str | None, cached: int = 0) -> tuple[Any, ...]:
        ended = None if status == RUNNING else time.time()
        return (
            *self.fixed, status, attempts, cached, self.started, ended, self.inputs, outputs, error, self.group,
            "inline", None,
        )


def interface_codec(tmpl: TaskTemplate[Any, Any]) -> InterfaceCodec:
    d = tmpl.__dict__
    codec = d.get("_codec")
    if codec is None:
        codec = InterfaceCodec(tmpl.name, tmpl.interface.inputs, tmpl.interface.output)
        d["_codec"] = codec
    return codec  # type: ignore[no-any-return]


def _cache_key(tmpl: TaskTemplate[Any, Any], codec: InterfaceCodec, inputs: dict[str, Any], inputs_hash: str) -> str:
    cache = tmpl.cache
    if cache.ignored_inputs:
        kept = {k: v for k, v in inputs.items() if k not in cache.ignored_inputs}
        _, inputs_hash = codec.encode_inputs(kept) if kept else (b"", "")
    version = cache.version_override if cache.behavior == "override" else tmpl.source_version()
    return digest(f"{tmpl.name}|{tmpl.interface.type_repr()}|{inputs_hash}|{version}|{cache.salt}")


def _inline_breach(tmpl: TaskTemplate[Any, Any], codec: InterfaceCodec, inputs: dict[str, Any] | None, size: int) -> InlineIOMaxBytesBreached:
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


def _aborted_error() -> str:
    return error_record(ActionAbortedError("The action was aborted: its parent ended, failed or was cancelled."))
