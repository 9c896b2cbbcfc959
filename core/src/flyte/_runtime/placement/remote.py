"""An action whose body runs away from the controller: the protocol shared by every such place.

Worker processes (``pool.py``/``worker_main.py``) and cluster executors (flyte-plugin-ray) run an
action's body elsewhere while the controller keeps the journal and the action IDs. The body talks
back through requests (``submit`` a child, ``key`` for a step ID, ``recorded``/``position`` on
recovery, ``jwrite``/``jflush``/``jdurable`` for trace records, ``log`` for what it printed); this
module holds both ends:

- controller side: :class:`RequestHandler` answers requests; :class:`RemoteAction` is one action
  handed to a cluster executor (its spec, its answers, its outcome);
- remote side: :func:`run_body` runs the body for a :class:`Session` (anything with ``loop``,
  ``call``, ``call_blocking`` and ``notify``), and :func:`run_action_here` does it over a
  :class:`Transport` such as an actor of a cluster.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from flyte._context import ActionContext, current_action
from flyte._runtime.journal import ActionRow
from flyte._runtime.placement import INLINE, wire
from flyte._runtime.placement.wire import get_value, put_value, template_bytes
from flyte.errors import ActionAbortedError, NonRecoverableError

if TYPE_CHECKING:
    from flyte._runtime.controller import ActionState, Controller
    from flyte._runtime.controller_api import ControllerAPI
    from flyte._task import TaskTemplate

_JOURNAL_WRITES = frozenset({"action_ended"})
_JOURNAL_DURABLE = frozenset({"action_finished"})
"""Journal operations a remote body may ask for, by name, each with an action row's fields (a trace
or durable step it ran); anything else is refused. The journal's SQL never travels."""


# ---- controller side --------------------------------------------------------------------------------
class RequestHandler:
    """Answers the requests of remote bodies; subclasses say which actions are running."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller
        self._templates: dict[bytes, Any] = {}

    def state_of(self, action_id: str) -> ActionState | None:
        """The live state of a running remote action (None: it is no longer running)."""
        raise NotImplementedError

    def child_started(self, action_id: str) -> None:
        """A remote action started waiting on a child (its resources may be lent meanwhile)."""

    async def child_finished(self, action_id: str) -> None:
        """A child of a remote action ended."""

    async def answer(self, kind: str, payload: Any) -> Any:
        c = self.c
        if kind == "submit":
            parent_id, tb, data, group, custom = payload
            state = self.state_of(parent_id)
            if state is None:
                raise ActionAbortedError(
                    f"Action {parent_id} is no longer running; its child call was dropped."
                )
            tmpl = self._templates.get(tb)
            if tmpl is None:
                tmpl = self._templates[tb] = wire.loads(tb)
            args, kwargs = wire.loads(get_value(c.store, data))
            pac = ActionContext(c, state, group=group, custom=custom)
            self.child_started(parent_id)
            try:
                out = await c.submit(tmpl, pac, args, kwargs)  # its action ID is taken before any await
            finally:
                await self.child_finished(parent_id)
            return put_value(c.store, c.run_prefix, parent_id, wire.dumps(out))
        if kind == "key":
            aid, identity, inputs_hash = payload
            state = self.state_of(aid)
            if state is None:
                raise ActionAbortedError(f"Action {aid} is no longer running.")
            return state.child_key(identity, inputs_hash)
        if kind == "recorded":
            return c.recorded.get(payload)  # a RecordedAction (or None), pickled as is
        if kind == "copy_recovered":  # a step a worker replayed from the run recovered from
            c.copy_recovered(*payload)
            return None
        if kind == "position":
            return c.recorded_positions.get(payload)
        if kind == "jwrite":
            op, fields = payload
            getattr(c.journal, _journal_op(op, _JOURNAL_WRITES))(_action_row(fields))
            return None
        if kind == "log":
            self.keep_log(payload)
            return None
        if kind == "jflush":
            c.journal.flush()
            return None
        if kind == "jdurable":
            op, fields = payload
            await getattr(c.journal, _journal_op(op, _JOURNAL_DURABLE))(_action_row(fields))
            return None
        raise ValueError(f"unknown worker request {kind!r}")

    def keep_log(self, payload: tuple[str, int, str]) -> None:
        """A ``log`` request: what a remote body wrote to stdout/stderr in one attempt. Synchronous
        and thread-safe (a store write), so an executor may keep logs from its own thread."""
        action_id, attempt, text = payload
        self.c.save_log(action_id, attempt, text)

    async def reply(self, kind: str, payload: Any) -> tuple[bool, Any]:
        """``answer`` as the ``(ok, value)`` pair a remote body expects; errors travel as data."""
        try:
            return True, await self.answer(kind, payload)
        except asyncio.CancelledError:
            if getattr(self, "closing", False):
                raise
            err = ActionAbortedError("The call was aborted by the controller.")
            return False, wire.dump_error(err, "the controller")
        except BaseException as e:
            return False, wire.dump_error(e, "the controller")


def run_fields(c: Controller) -> dict[str, Any]:
    """What a controller elsewhere needs of this run so ``flyte.ctx()`` there matches this one:
    its name, data prefix, identity (project, domain, org), start time and cache switch."""
    return {
        "run_name": c.run_name,
        "run_prefix": c.run_prefix,
        "identity": tuple(c.identity),
        "started_at": c.started_at,
        "disable_run_cache": bool(c.disable_run_cache),
        "recovering": bool(c.recorded_positions),
        "recovered_from": c.recovered_from,
    }


def _journal_op(op: Any, allowed: frozenset[str]) -> str:
    if op not in allowed:
        raise ValueError(f"a remote body asked for a journal operation the controller does not allow: {op!r}")
    return str(op)


def _action_row(fields: Any) -> ActionRow:
    if not isinstance(fields, tuple) or len(fields) != len(ActionRow._fields):
        raise ValueError("a remote body sent a journal row of the wrong shape")
    return ActionRow(*fields)


class RemoteAction(RequestHandler):
    """One attempt of an action handed to a cluster executor: what it runs and how it answers.

    ``spec(inline_limit)`` is what travels (picklable; inputs and the output above ``inline_limit``
    bytes go through the run's object store, never through the executor's channel); ``reply()``
    answers the body's requests;
    ``outcome()`` turns the body's result into the value or the exception the parent sees.
    """

    def __init__(
        self,
        controller: Controller,
        task: TaskTemplate[Any, Any],
        state: ActionState,
        inputs: dict[str, Any],
        group: str | None,
        custom: dict[str, str],
    ) -> None:
        super().__init__(controller)
        self.task = task
        self.state = state
        self.inputs = inputs
        self.group = group
        self.custom = custom

    @property
    def action_id(self) -> str:
        return self.state.action_id

    @property
    def attempt(self) -> int:
        return self.state.attempt

    @property
    def run_name(self) -> str:
        return self.c.run_name

    def state_of(self, action_id: str) -> ActionState | None:
        return self.state if action_id == self.state.action_id else None

    def spec(self, inline_limit: int = 0) -> dict[str, Any]:
        """The action as it travels: template, inputs, run identity and where values live.

        Inputs and the output above ``inline_limit`` bytes go through the run's object store (0:
        always), so large values never pass through the executor's channel or the driver."""
        try:
            tb = template_bytes(self.task)
        except Exception as e:
            raise NonRecoverableError(
                f"Task {self.task.name!r} cannot run on the cluster: its template does not pickle "
                f"({type(e).__name__}: {e})."
            ) from e
        try:
            enc_inputs = wire.dumps(self.inputs)
        except Exception as e:
            raise NonRecoverableError(
                f"The inputs of task {self.task.name!r} cannot be sent to the cluster "
                f"({type(e).__name__}: {e})."
            ) from e
        c = self.c
        return {
            "tmpl": tb,
            "inputs": put_value(c.store, c.run_prefix, self.action_id, enc_inputs, limit=inline_limit),
            "value_limit": inline_limit,
            "attempt": self.attempt,
            "action_id": self.action_id,
            "task_name": self.task.name,
            "group": self.group,
            "custom": dict(self.custom),
            **run_fields(c),
            "sys_path": [p for p in sys.path if p],
            "env": self.run_environment(),
        }

    def run_environment(self) -> dict[str, str]:
        """What the remote process needs of this run (set there before the body runs): the store's
        options and the key that signs pickles, so the body accepts what this controller wrote."""
        from flyte._runtime.codec import PICKLE_KEY_ENV, pickle_key

        env = {PICKLE_KEY_ENV: pickle_key().decode()}
        opts = os.environ.get("FLYTE_STORAGE_OPTIONS")
        if opts:
            env["FLYTE_STORAGE_OPTIONS"] = opts
        return env

    def task_environment(self) -> dict[str, str]:
        """The user's environment variables for this action: the run's, then the task's."""
        return {**self.c.env_vars, **self.task.env_vars}

    def outcome(self, result: tuple[bool, Any]) -> Any:
        """The body's ``(ok, payload)``: the output, or the exception it raised (its own type)."""
        ok, payload = result
        if ok:
            return wire.loads(get_value(self.c.store, payload))
        if isinstance(payload, tuple):
            raise ActionAbortedError(f"Task {self.task.name!r} was cancelled where it ran.")
        raise wire.load_error(payload)

    def abort_children(self) -> None:
        """Cancel the children of a lost attempt (its retry calls them again)."""
        self.c._abort_orphans(self.state)


# ---- remote side ------------------------------------------------------------------------------------
class Session(Protocol):
    """What a remote body needs of its link to the controller."""

    loop: asyncio.AbstractEventLoop
    templates: dict[bytes, Any]

    async def call(self, kind: str, payload: Any) -> Any: ...

    def call_blocking(self, kind: str, payload: Any) -> Any: ...

    def notify(self, kind: str, payload: Any) -> None: ...


_body_helpers: tuple[Any, Any, Any] | None = None


def _helpers() -> tuple[Any, Any, Any]:
    """(``_plain_async``, ``RemoteActionState``, ``logs``), imported once: an import statement in
    ``run_body`` ran the import machinery on every action (issue 20)."""
    global _body_helpers
    if _body_helpers is None:
        from flyte._runtime import logs
        from flyte._runtime.controller import _plain_async
        from flyte._runtime.placement.worker_main import RemoteActionState

        _body_helpers = (_plain_async, RemoteActionState, logs)
    return _body_helpers


async def run_body(
    session: Session,
    controller: ControllerAPI,
    action_id: str,
    spec: Mapping[str, Any],
    inline_out: bool = False,
) -> Any:
    """Run an action's body here; returns the output as ``put_value`` leaves it (inline or a ref),
    or with ``inline_out`` as ``wire.out_payload`` does (a small plain output as itself).

    ``spec["inputs"]``: the inputs dict itself (a worker process's small plain inputs, which travel
    inside the message), else ``put_value`` of their pickle."""
    tb = spec["tmpl"]
    tmpl = session.templates.get(tb)
    if tmpl is None:
        try:
            tmpl = session.templates[tb] = wire.loads(tb)
        except Exception as e:
            from flyte.errors import ModuleLoadError

            raise ModuleLoadError(
                f"the worker could not load task {spec['task_name']!r}: {type(e).__name__}: {e}. "
                "Its module must be importable where it runs (same sys.path and working directory)."
            ) from e
    plain_async, remote_state, logs = _body_helpers or _helpers()
    logs.install()
    store = controller.store
    inputs = spec["inputs"]
    if type(inputs) is not dict:
        inputs = wire.loads(get_value(store, inputs))
    state = remote_state(action_id, spec["task_name"], spec["attempt"], session)
    if getattr(tmpl, "report", False):
        from flyte.report._api import new_report

        state.report = new_report(state)
    custom = spec.get("custom")
    token = current_action.set(
        ActionContext(controller, state, group=spec.get("group"), custom=dict(custom) if custom else {})
    )
    try:
        if plain_async(tmpl):  # straight to the body, as the controller does inline (issue 20)
            out = await tmpl.func(**inputs)
        else:
            out = await INLINE.run(tmpl, state, inputs)  # inline, where the action landed
    finally:
        current_action.reset(token)
        if state.log is not None:
            text = logs.take(state)
            if text:
                session.notify("log", (action_id, spec["attempt"], text))
        if state.report is not None:  # written from here: the run's store is shared
            from flyte._runtime import reports

            reports.keep(controller, state)
    if inline_out:
        return wire.out_payload(store, controller.run_prefix, action_id, out, spec.get("value_limit"))
    return put_value(store, controller.run_prefix, action_id, wire.dumps(out), limit=spec.get("value_limit"))


class Transport(Protocol):
    """A link to the controller: one request, answered with ``(ok, value)`` in a future."""

    def request(self, kind: str, payload: Any) -> concurrent.futures.Future[Any]: ...

    def post(self, kind: str, payload: Any) -> None: ...


class BatchTransport(Transport, Protocol):
    """A transport that also takes several requests in one call (called on the body's loop)."""

    def request_many(self, items: list[tuple[str, Any]]) -> list[concurrent.futures.Future[Any]]: ...


class _TransportSession:
    """A :class:`Session` over a :class:`Transport` (requests answered by the controller).

    Over a :class:`BatchTransport`, the requests a body awaits in one turn of its loop (a fan-out's
    child calls) leave together at the end of that turn. A blocking request never joins a batch: it
    may be made on the loop itself (a sync step inside an async body), which then cannot turn to
    send the batch; it sends what is pending first (the controller sees requests in the order they
    were made) and then goes out on its own."""

    def __init__(self, transport: Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.templates: dict[bytes, Any] = _TEMPLATES
        self._many = getattr(transport, "request_many", None)
        self._pending: list[tuple[str, Any, concurrent.futures.Future[Any]]] = []
        self._lock = threading.Lock()  # call_blocking may come from a sync body's thread

    async def call(self, kind: str, payload: Any) -> Any:
        if self._many is None:
            fut = self.transport.request(kind, payload)
        else:
            fut = concurrent.futures.Future()
            with self._lock:
                self._pending.append((kind, payload, fut))
                first = len(self._pending) == 1
            if first:
                self.loop.call_soon(self._flush)
        ok, value = await asyncio.wrap_future(fut)
        if not ok:
            raise wire.load_error(value)
        return value

    def _flush(self) -> None:
        """Send the pending requests in one call; each future follows its own answer."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        assert self._many is not None
        try:
            if len(batch) == 1:
                outs = [self.transport.request(batch[0][0], batch[0][1])]
            else:
                outs = self._many([(k, p) for k, p, _ in batch])
        except BaseException as e:
            for _, _, fut in batch:
                fut.set_exception(e)
            return
        for (_, _, fut), out in zip(batch, outs, strict=True):
            out.add_done_callback(functools.partial(_chain, dst=fut))

    def call_blocking(self, kind: str, payload: Any) -> Any:
        if self._pending and _running_loop() is self.loop:
            self._flush()  # off the loop, the loop sends them at the end of its turn
        ok, value = self.transport.request(kind, payload).result()
        if not ok:
            raise wire.load_error(value)
        return value

    def notify(self, kind: str, payload: Any) -> None:
        self.transport.post(kind, payload)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _chain(src: concurrent.futures.Future[Any], *, dst: concurrent.futures.Future[Any]) -> None:
    if dst.done():
        return
    exc = src.exception()
    if exc is not None:
        dst.set_exception(exc)
    else:
        dst.set_result(src.result())


_TEMPLATES: dict[bytes, Any] = {}
"""Templates loaded in this process (a warm process reuses them, as a worker process does)."""


def _prepare(spec: Mapping[str, Any]) -> None:
    """In a process that runs actions for a controller elsewhere (a cluster's worker): the run's
    settings, its import path, and no nested worker pools for a run started inside a task."""
    os.environ.update(spec.get("env") or {})
    for p in reversed(spec.get("sys_path") or ()):
        if p not in sys.path:
            sys.path.insert(0, p)
    import flyte._runtime.placement as pkg

    pkg.IN_WORKER = True


async def run_action_here_async(
    spec: Mapping[str, Any], transport: Transport, where: str, *, own_process: bool = True
) -> tuple[bool, Any]:
    """Run the action of ``spec`` on the running loop (an async actor's); ``(ok, payload)`` back.

    Errors come back as data (``wire.dump_error``), so the parent sees the original exception type.
    ``own_process``: this process serves the controller elsewhere (a cluster worker), so it takes
    the run's settings; False when the body runs inside the controller's own process (tests).
    """
    from flyte._runtime.placement.worker_main import controller_for

    if own_process:
        _prepare(spec)
    session = _TransportSession(transport, asyncio.get_running_loop())
    controller = controller_for(session, spec)
    try:
        return True, await run_body(session, controller, spec["action_id"], spec)
    except asyncio.CancelledError:
        return False, ("cancelled",)
    except BaseException as e:
        return False, wire.dump_error(e, where)
    finally:
        controller.sync_pool.shutdown(wait=False)


_loops = threading.local()


def run_action_here(
    spec: Mapping[str, Any], transport: Transport, where: str, *, own_process: bool = True
) -> tuple[bool, Any]:
    """:func:`run_action_here_async` on this thread's loop (a cluster's one-shot task; the loop is
    kept for the next action this worker process runs)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _loops.loop = asyncio.new_event_loop()
    return loop.run_until_complete(run_action_here_async(spec, transport, where, own_process=own_process))
