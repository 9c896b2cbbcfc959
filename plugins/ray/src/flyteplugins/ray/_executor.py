"""The ``ray`` executor: each child function action of a run is a Ray task (or runs on a warm Ray
actor of its reusable environment), scheduled by the action's ``Resources``.

The driver keeps the controller: the journal, action IDs, caching, retries and timeouts are the
same as on one machine. Inputs and outputs travel through the run's object store (``s3://...`` on a
real cluster), never through Ray's object store or the driver's channel. A Ray-level failure (a node
or worker lost, an actor died) fails only that attempt, as a system error: it is retried up to
``FLYTE_SYSTEM_RETRIES`` times (Ray places it on a live node) without using the task's own retries.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import pickle
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Coroutine
from typing import Any

from flyte.errors import (
    AcceleratorUnavailableError,
    NonRecoverableError,
    OOMError,
    WorkerCrashedError,
)
from flyte.extend import RemoteAction, TaskTemplate
from flyteplugins.ray._address import RayAddress, parse_address
from flyteplugins.ray._resources import ray_options

SYSTEM_RETRIES = int(os.environ.get("FLYTE_SYSTEM_RETRIES", "2"))
INLINE_LIMIT = int(os.environ.get("FLYTE_RAY_INLINE_BYTES", str(16 * 1024)))
"""Inputs and outputs up to this many bytes ride in the Ray task itself (as Ray passes small
arguments); larger ones go through the run's object store (``s3://...``), never through the driver."""
POLL_WAIT = 1.0
"""Seconds the driver's long poll of the channel waits for a request before asking again."""
SUBMIT_CHUNK = 256
"""Attempts per ``submit`` call to the supervisor: a fan-out of thousands goes out in chunks, so the
supervisor starts the first Ray tasks while the driver still prepares the rest."""
COLLECT_LINGER = 0.02
"""Seconds the supervisor may wait, after a first result, for more before answering a poll (only
while many attempts are out: a lone child's result comes back at once)."""
_connect_lock = threading.Lock()
_connected: RayAddress | None = None
FEASIBLE_FOR_S = 5.0
"""How long a check that some node offers a task's resources holds (per process and cluster: a
fan-out asks thousands of times, and a process's next run asks again at once)."""
_feasible: dict[tuple[str, str], float] = {}


class _Lost(Exception):
    """The cluster lost the attempt (node, worker or actor gone): a system failure."""


class _SupervisorGone(Exception):
    """The run's supervisor died (with its node): the attempts it held are lost."""

    def __init__(self, sup: Any, error: BaseException) -> None:
        super().__init__(str(error))
        self.sup = sup
        self.error = error


CLIENT_CONNECT_TRIES = 3


def connect(address: RayAddress) -> None:
    """``ray.init`` once per process and address (a later run reuses the connection).

    Ray Client's server starts a process per client, which now and then fails to come up on a busy
    head ("Initialization failure from server"): that is tried again, up to ``CLIENT_CONNECT_TRIES``
    times. A failed attempt is shut down, so it leaves no half-made connection behind."""
    global _connected
    import ray

    with _connect_lock:
        if _connected == address and ray.is_initialized():
            return
        _drop_spares()  # another cluster's (or a closed connection's) actors
        if ray.is_initialized():
            ray.shutdown()
        _connected = None
        tries = CLIENT_CONNECT_TRIES if (address.address or "").startswith("ray://") else 1
        for attempt in range(1, tries + 1):
            try:
                ray.init(**address.init_kwargs(), ignore_reinit_error=True, configure_logging=False)
                break
            except ConnectionError:
                _shutdown_quietly()
                if attempt == tries:
                    raise
                time.sleep(2.0 * attempt)
            except BaseException:
                _shutdown_quietly()
                raise
        _connected = address


def _shutdown_quietly() -> None:
    import ray

    try:
        ray.shutdown()
    except Exception:
        pass


def disconnect() -> None:
    """Leave the cluster (tests and the benchmark switch clusters; runs keep the connection)."""
    global _connected
    import ray

    with _connect_lock:
        _drop_spares()
        if ray.is_initialized():
            ray.shutdown()
        _connected = None


_spares: dict[str, tuple[Any, ...]] = {}
"""The run actors an ended run of this process left for the next (a Ray actor is a process: starting
two per run cost seconds): ``"sup"`` -> (handle, name, grace), ``"channel"`` -> (handle, name)."""
_spare_lock = threading.Lock()
_epochs = itertools.count(1)


def _take_spare(kind: str) -> tuple[Any, ...] | None:
    with _spare_lock:
        return _spares.pop(kind, None)


def _keep_spare(kind: str, entry: tuple[Any, ...]) -> bool:
    with _spare_lock:
        if kind in _spares:
            return False
        if not _spares:
            _at_exit()
        _spares[kind] = entry
        return True


def _drop_spares() -> None:
    """Stop the spare actors (the supervisor is detached: it would outlive this process)."""
    import ray

    with _spare_lock:
        entries = list(_spares.values())
        _spares.clear()
    for entry in entries:
        try:
            ray.kill(entry[0])
        except Exception:
            pass


_exit_hooked: list[bool] = []


def _at_exit() -> None:
    if not _exit_hooked:
        import atexit

        _exit_hooked.append(True)
        atexit.register(_drop_spares)


KV_NAMESPACE = b"flyte"


def _kv_get(key: str) -> str | None:
    """The name of the supervisor that runs a run's attempts (Ray's GCS keeps the map)."""
    from ray.experimental import internal_kv

    try:
        got = internal_kv._internal_kv_get(key.encode(), namespace=KV_NAMESPACE)
    except Exception:
        return None
    return got.decode() if got else None


def _kv_put(key: str, name: str) -> None:
    from ray.experimental import internal_kv

    internal_kv._internal_kv_put(key.encode(), name.encode(), overwrite=True, namespace=KV_NAMESPACE)


def _kv_del(key: str, prefix: bool = False) -> None:
    from ray.experimental import internal_kv

    try:
        internal_kv._internal_kv_del(key.encode(), del_by_prefix=prefix, namespace=KV_NAMESPACE)
    except Exception:
        pass


class _Replica:
    __slots__ = ("alive", "handle", "load", "node")

    def __init__(self, handle: Any, node: str) -> None:
        self.handle = handle
        self.node = node
        self.load = 0
        self.alive = True


class _ReplicaPool:
    """The warm actors of one reusable environment: ``concurrency`` actions each, up to
    ``max_replicas`` of them, ``min_replicas`` started with the pool."""

    def __init__(self, ex: RayExecutor, label: str, policy: Any, opts: dict[str, Any]) -> None:
        self.ex = ex
        self.label = label
        self.policy = policy
        self.opts = opts
        self.replicas: list[_Replica] = []
        self.starting = 0
        self._changed = asyncio.Event()
        for _ in range(policy.min_replicas):
            self.starting += 1  # counted at once, so the first actions do not start more
            ex._spawn(self._start_one(prewarm=True))

    async def acquire(self) -> _Replica:
        while True:
            free = [r for r in self.replicas if r.alive and r.load < self.policy.concurrency]
            if free:
                r = min(free, key=lambda r: r.load)  # spread actions over the warm replicas
                r.load += 1
                return r
            if len(self.replicas) + self.starting < self.policy.max_replicas:
                self.starting += 1
                await self._start_one(prewarm=False)
                continue
            self._changed.clear()
            await self._changed.wait()

    def release(self, r: _Replica) -> None:
        r.load -= 1
        self._changed.set()

    def lost(self, r: _Replica) -> None:
        import ray

        r.alive = False
        if r in self.replicas:
            self.replicas.remove(r)
        try:
            ray.kill(r.handle)
        except Exception:
            pass
        self._changed.set()

    async def _start_one(self, prewarm: bool) -> None:
        """Start one replica (the caller has counted it in ``starting``)."""
        import ray
        from flyteplugins.ray._remote import Replica

        try:
            opts = dict(self.opts, max_concurrency=self.policy.concurrency, max_restarts=0)
            handle = ray.remote(Replica).options(**opts).remote(self.label)
            try:
                node = await handle.ready.remote()
            except ray.exceptions.RayError as e:
                if prewarm:
                    return  # the first action that needs a replica starts one and reports the error
                raise _Lost(f"A replica of environment {self.label!r} failed to start: {e}") from None
            self.replicas.append(_Replica(handle, str(node)))
        finally:
            self.starting -= 1
            self._changed.set()

    def close(self) -> None:
        import ray

        for r in self.replicas:
            try:
                ray.kill(r.handle)
            except Exception:
                pass
        self.replicas.clear()


SUPERVISOR_RESTART_S = 30.0
"""How long a driver waits for a new supervisor after the old one died with its node."""


def _home_node() -> tuple[str, bool]:
    """Where the run's own actors (channel, supervisor) live: the head node, which lives as long as
    the cluster (a worker node may be lost mid-run, and these actors with it); the driver's node
    when no head is found. Returns the node id and whether to insist on it."""
    import ray

    for node in ray.nodes():
        if node.get("Alive") and "node:__internal_head__" in (node.get("Resources") or {}):
            return str(node["NodeID"]), True
    return ray.get_runtime_context().get_node_id(), False


class RayExecutor:
    """One run's use of a Ray cluster (made by the plugin's ``flyte_register_executors`` hook)."""

    mode = "ray"

    def __init__(self, address: str) -> None:
        self.address = parse_address(address)  # a malformed address fails before the run starts
        self._channel: Any = None
        self._channel_name = ""
        self._actions: dict[str, RemoteAction] = {}
        self._last: RemoteAction | None = None
        self._pools: dict[tuple[Any, ...], _ReplicaPool] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started: asyncio.Future[None] | None = None
        self._nodes: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._nodes_fetch: asyncio.Task[list[dict[str, Any]]] | None = None
        self._task_opts: dict[int, tuple[TaskTemplate[Any, Any], dict[str, Any], str]] = {}
        self._sup: Any = None
        self._sup_lock = asyncio.Lock()
        self._received: list[str] = []  # results the driver has: the supervisor forgets them (batched)
        self._token = uuid.uuid4().hex  # this driver, to the supervisor (a recovered one has another)
        self._serials = itertools.count(1)
        self._outbox: list[tuple[int, str, str, Any]] = []  # attempts for the next submit
        self._cancels: list[int] = []
        self._flush_soon = False
        self._opts: dict[str, dict[str, Any]] = {}
        self._waiting: dict[int, asyncio.Future[tuple[str, Any]]] = {}
        self._sent: dict[int, Any] = {}  # serial -> the supervisor it went to, until its result came
        self._collecting = asyncio.Event()
        self._submitting = 0  # submit calls on their way: the next batch waits for them
        self._answers: list[tuple[int, Any]] = []
        self._sup_name = ""
        self._sup_key = ""  # the run's key in the GCS's map to its supervisor's name
        self._shared: dict[bytes, tuple[dict[str, Any], str]] = {}  # template -> shared part, its key
        self._shared_keys: set[str] = set()  # the shared parts this run stored in the GCS
        self._epoch = next(_epochs)  # this run, to a channel that serves the process's runs in turn
        self._aids: set[str] = set()  # the actions this run sent (a reused channel's stale requests)
        self._grace = 3600.0
        self.closed = False
        self._trace: Any = None  # FLYTE_RAY_TRACE: timing counters, printed at the run's end

    # ---- one attempt ----------------------------------------------------------------------------
    async def run(self, action: RemoteAction) -> Any:
        if self._trace is not None:
            self._trace.mark("drv_action")
        if self._started is None or not self._started.done() or self._started.exception() is not None:
            await self._start(action)
        task = action.task
        opts, key = self._options(task)
        await self._check_feasible(task, opts)
        user_env = action.task_environment()
        if user_env:  # Ray keeps workers of other environments apart from these
            opts = dict(opts, runtime_env={"env_vars": user_env})
            key = self._key(dict(opts, name=task.name))
        failures = 0
        self._aids.add(action.action_id)
        self._actions[action.action_id] = action
        self._last = action
        try:
            if task.reusable is None and action.attempt == 0 and _recovering(action):
                adopted = await self._adopt(action)
                if adopted is not None:
                    return action.outcome(adopted)
            while True:
                spec = action.spec(INLINE_LIMIT)
                try:
                    if task.reusable is not None:
                        result = await self._on_replica(task, opts, spec)
                    else:
                        result = await self._as_task(task, key, spec)
                    return action.outcome(result)
                except _Lost as lost:
                    action.abort_children()  # the retry calls them again
                    failures += 1
                    if failures > SYSTEM_RETRIES:
                        raise WorkerCrashedError(
                            f"Task {task.name!r}: {lost} Gave up after {failures} tries "
                            f"(FLYTE_SYSTEM_RETRIES={SYSTEM_RETRIES})."
                        ) from None
                    warnings.warn(
                        f"Task {task.name!r}: {lost} Retrying on the cluster (system retry "
                        f"{failures}/{SYSTEM_RETRIES}; the task's own retries are not used).",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        finally:
            self._actions.pop(action.action_id, None)

    def _options(self, task: TaskTemplate[Any, Any]) -> tuple[dict[str, Any], str]:
        """The task's Ray options (without the user's env) and their key, made once per task of
        the run (a fan-out asks for the same thousands of times). Not to be changed by the caller."""
        got = self._task_opts.get(id(task))
        if got is not None and got[0] is task:
            return got[1], got[2]
        opts = ray_options(task.resources, name=task.name)
        key = self._key(dict(opts, name=task.name))
        self._task_opts[id(task)] = (task, opts, key)
        return opts, key

    def _key(self, opts: dict[str, Any]) -> str:
        """The supervisor's name for these options (it makes one remote function per key)."""
        key = json.dumps(opts, sort_keys=True, default=str)
        self._opts[key] = opts
        return key

    async def _as_task(self, task: TaskTemplate[Any, Any], key: str, spec: dict[str, Any]) -> Any:
        """Submitted by the run's supervisor (a detached actor), the task outlives a killed driver.
        The attempts ready in one turn of the loop go to it in one call (``_flush``), in chunks of
        ``SUBMIT_CHUNK``; their results come back in batches (``_collect``)."""
        from flyteplugins.ray._remote import task_arg

        serial = next(self._serials)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[str, Any]] = loop.create_future()
        # pickled here, once: the supervisor passes the bytes on to the Ray task unopened
        arg = task_arg(self._shared_key(spec), spec, self._channel_name)
        if self._trace is not None and isinstance(arg, bytes):
            self._trace.add("drv_arg_bytes", len(arg))
        self._outbox.append((serial, key, spec["action_id"], arg))
        self._waiting[serial] = fut
        if len(self._outbox) >= SUBMIT_CHUNK:
            self._flush(now=True)  # not at the end of this turn: the supervisor starts on this chunk
        elif not self._flush_soon:
            self._flush_soon = True
            loop.call_soon(self._flush)
        try:
            kind, value = await fut
        except asyncio.CancelledError:
            self._waiting.pop(serial, None)
            if not fut.done():  # a timeout or an aborted parent: the supervisor stops the worker
                self._cancels.append(serial)
                if not self._flush_soon:
                    self._flush_soon = True
                    asyncio.get_running_loop().call_soon(self._flush)
            raise
        except _SupervisorGone as gone:  # its node died: one replacement, however many saw it
            async with self._sup_lock:
                if self._sup is gone.sup:
                    await asyncio.to_thread(self._sup_lost)
            raise _translate(task, gone.error) from None
        self._received.append(spec["action_id"])
        return self._result(task, kind, value)

    def _shared_key(self, spec: dict[str, Any]) -> str:
        """The GCS key of the part of ``spec`` that is the same for the run's children of its task
        (stored once; a child's task carries the key, not ~1 KB of import path and settings).
        Empty where that part does not pickle (the child's task then carries it all)."""
        from flyteplugins.ray._remote import SPEC_OWN, shared_key

        rest = {k: v for k, v in spec.items() if k not in SPEC_OWN}
        got = self._shared.get(spec["tmpl"])
        if got is not None and got[0] == rest:
            return got[1]
        try:
            blob = pickle.dumps((rest, self._channel_name), protocol=5)
        except Exception:
            return ""
        key: str = shared_key(self._sup_key, blob)
        if key not in self._shared_keys:
            from ray.experimental import internal_kv

            internal_kv._internal_kv_put(key.encode(), blob, overwrite=True, namespace=KV_NAMESPACE)
            self._shared_keys.add(key)
        self._shared[spec["tmpl"]] = (rest, key)
        return key

    def _flush(self, now: bool = False) -> None:
        """One actor call with the attempts (and cancels) of this turn of the loop, up to
        ``SUBMIT_CHUNK`` of them. While one is on its way the next batch grows (a busy driver sends
        fewer, larger calls), unless ``now``: a full chunk goes at once (the supervisor takes its
        calls in order)."""
        if not now:
            self._flush_soon = False
            if self._submitting:
                return  # _submitted flushes what came meanwhile
        items, self._outbox = self._outbox[:SUBMIT_CHUNK], self._outbox[SUBMIT_CHUNK:]
        cancels, self._cancels = self._cancels, []
        items = [it for it in items if it[0] in self._waiting]  # cancelled before it was sent
        if not items and not cancels:
            return
        from flyteplugins.ray._remote import pack

        sup = self._sup
        opts = {key: self._opts[key] for key in {it[1] for it in items}}
        forget, self._received = self._received, []
        for it in items:
            self._sent[it[0]] = sup
        try:
            ref = sup.submit.remote(self._token, pack(items), opts, cancels, forget)
            if self._trace is not None:
                self._trace.mark("drv_submit", len(items))
        except Exception as e:  # the batch could not be sent: its attempts fail with why
            self._fail([it[0] for it in items], e)
            return
        self._submitting += 1
        self._spawn(self._submitted(sup, ref, [it[0] for it in items]))
        self._collecting.set()

    async def _submitted(self, sup: Any, ref: Any, serials: list[int]) -> None:
        import ray

        try:
            await ref
        except ray.exceptions.RayError as e:  # the supervisor is gone
            self._fail(serials, _SupervisorGone(sup, e))
        finally:
            self._submitting -= 1
            if (self._outbox or self._cancels) and not self._submitting:
                self._flush()

    def _fail(self, serials: list[int], error: BaseException) -> None:
        for serial in serials:
            self._sent.pop(serial, None)
            fut = self._waiting.pop(serial, None)
            if fut is not None and not fut.done():
                fut.set_exception(error)

    async def _collect(self) -> None:
        """The results of the supervisor's tasks, in batches (a long poll), to the waiting attempts."""
        while not self.closed:
            if not self._sent:
                self._collecting.clear()
                await self._collecting.wait()
                continue
            from flyteplugins.ray._remote import unpack

            sup = self._sup
            forget, self._received = self._received, []
            want = min(SUBMIT_CHUNK, len(self._sent) // 8)  # many out: fewer, larger answers
            try:
                done = await sup.completed.remote(self._token, POLL_WAIT, forget, want, COLLECT_LINGER)
            except Exception as e:  # the supervisor is gone (a RayError): so are its tasks
                self._fail([s for s, on in self._sent.items() if on is sup], _SupervisorGone(sup, e))
                await asyncio.sleep(0.2)  # an attempt replaces it
                continue
            done = unpack(done)
            if self._trace is not None:
                self._trace.mark("drv_results", len(done))
            for serial, kind, value in done:
                self._sent.pop(serial, None)
                fut = self._waiting.pop(serial, None)
                if fut is not None and not fut.done():
                    fut.set_result((kind, value))

    @staticmethod
    def _result(task: TaskTemplate[Any, Any], kind: str, value: Any) -> Any:
        from flyteplugins.ray._remote import DRIVER_GONE, unpack

        if kind == "ray-error":
            raise _translate(task, value)
        value = unpack(value)
        ok, payload = value
        if not ok and isinstance(payload, tuple) and payload and payload[0] == DRIVER_GONE:
            raise _Lost(payload[1] + ".")
        return value

    async def _adopt(self, action: RemoteAction) -> Any:
        """Recovery: the result of this action from the run's supervisor, which a killed driver
        left running (finished: used; running: awaited); None: run it (again)."""
        import ray

        try:
            got = await self._sup.adopt.remote(action.action_id)
        except ray.exceptions.RayError:
            got = None
        why = "the run's Ray supervisor no longer has it: its node died, or it stopped after the grace period"
        if got is not None:
            how, (kind, value) = got
            try:
                result = self._result(action.task, kind, value)
            except _Lost as lost:
                got, why = None, str(lost).rstrip(".")
        if got is None:
            if action.c.recorded.get(action.action_id) is not None:  # it was started: say why again
                warnings.warn(
                    f"Task {action.task.name!r} (action {action.action_id[:12]}) started before the "
                    f"driver stopped left no result ({why}); running it again (a system retry).",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return None
        self._received.append(action.action_id)
        action.c.journal.action_adopted(action.run_name, action.action_id, how)
        return result

    async def _on_replica(
        self, task: TaskTemplate[Any, Any], opts: dict[str, Any], spec: dict[str, Any]
    ) -> Any:
        import ray

        pool = self._pool(task, opts)
        r = await pool.acquire()
        try:
            ref = r.handle.run.remote(spec, self._channel_name)
            try:
                return await ref
            except asyncio.CancelledError:
                ray.cancel(ref)  # the coroutine on the replica is cancelled; the replica stays warm
                raise
            except ray.exceptions.RayError as e:
                err = _translate(task, e)
                if isinstance(err, _Lost):
                    pool.lost(r)
                raise err from None
        finally:
            pool.release(r)

    def _pool(self, task: TaskTemplate[Any, Any], opts: dict[str, Any]) -> _ReplicaPool:
        policy = task.reusable
        key = (task.env_name or task.name, policy, json.dumps(opts, sort_keys=True, default=str))
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _ReplicaPool(self, task.env_name or task.name, policy, opts)
        return pool

    # ---- the connection and the channel -----------------------------------------------------------
    async def _start(self, action: RemoteAction) -> None:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            from flyteplugins.ray._remote import TRACE, Trace

            if TRACE:
                self._trace = Trace()
                self._trace.mark("drv_action")
            try:
                await asyncio.to_thread(connect, self.address)
                # the node list (for the resource check) comes in while the actors are set up
                self._spawn(self._prefetch_nodes())
                self._make_channel()
                await asyncio.to_thread(self._make_supervisor, action)
                if self._trace is not None:  # turns the supervisor's counters on (from now)
                    await self._sup.trace_report.remote(0.0, os.environ.get("FLYTE_RAY_PROFILE", ""))
                loop = asyncio.get_running_loop()
                threading.Thread(
                    target=self._serve_channel, args=(loop,), name="flyte-ray-channel", daemon=True
                ).start()
                self._spawn(self._collect())
                self._started.set_result(None)
            except BaseException as e:
                self._started.set_exception(e)
                self._started.exception()
                raise _connect_error(self.address, e) from e
        await asyncio.shield(self._started)

    def _make_channel(self) -> None:
        """The run's channel: the one an ended run of this process left, or a new one."""
        import ray
        from flyteplugins.ray._remote import CHANNEL_CONCURRENCY, NAMESPACE, Channel
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        spare = _take_spare("channel")
        if spare is not None:
            try:  # alive, and this run's from now on
                ray.get(spare[0].take.remote(0.0, 0, self._epoch), timeout=10)
                self._channel, self._channel_name = spare
                return
            except Exception:
                _kill(spare[0])
        here, hard = _home_node()
        self._channel_name = f"flyte-channel-{uuid.uuid4().hex}"
        self._channel = (
            ray.remote(Channel)
            .options(
                name=self._channel_name,
                namespace=NAMESPACE,
                num_cpus=0,
                max_concurrency=CHANNEL_CONCURRENCY,
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=not hard),
            )
            .remote()
        )

    def _make_supervisor(self, action: RemoteAction, fresh: bool = False) -> None:
        """The run's supervisor: the one a killed driver of this run left (found through the GCS's
        map from the run to its supervisor), else the spare an ended run of this process left, else
        a new one. ``fresh``: a new one (the old one died)."""
        import ray
        from flyte.extend import orphan_grace
        from flyteplugins.ray._remote import NAMESPACE, supervisor_name

        self._grace = orphan_grace()
        self._sup_key = supervisor_name(action.run_name, action.c.run_prefix)
        if not fresh:
            name = _kv_get(self._sup_key)
            if name is not None:
                try:
                    self._sup, self._sup_name = ray.get_actor(name, namespace=NAMESPACE), name
                    return
                except ValueError:
                    pass  # it ended: its attempts with it
            spare = _take_spare("sup")
            if spare is not None and spare[2] == self._grace:
                try:
                    ray.get(spare[0].beat.remote(), timeout=10)
                    self._sup, self._sup_name = spare[0], spare[1]
                    _kv_put(self._sup_key, self._sup_name)
                    return
                except Exception:
                    pass  # it died meanwhile (its node, or someone killed it): a new one
            elif spare is not None:
                _kill(spare[0])
        self._sup_name = f"flyte-run-{uuid.uuid4().hex[:20]}"
        self._sup = self._new_supervisor(self._sup_name)
        _kv_put(self._sup_key, self._sup_name)

    def _new_supervisor(self, name: str) -> Any:
        import ray
        from flyteplugins.ray._remote import CHANNEL_CONCURRENCY, NAMESPACE, Supervisor
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here, hard = _home_node()
        return (
            ray.remote(Supervisor)
            .options(
                name=name,
                namespace=NAMESPACE,
                lifetime="detached",
                num_cpus=0,
                max_concurrency=CHANNEL_CONCURRENCY,
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=not hard),
            )
            .remote(self._grace)
        )

    def _sup_lost(self) -> None:
        """The supervisor died (its node went): a new one for the next attempts. Until Ray has
        marked the dead one, its name still answers with the dead actor: wait for that (bounded)."""
        import ray

        try:
            ray.kill(self._sup)
        except Exception:
            pass
        if self._last is None:
            return
        deadline = time.monotonic() + SUPERVISOR_RESTART_S
        while True:
            self._make_supervisor(self._last, fresh=True)
            try:
                ray.get(self._sup.beat.remote(), timeout=5)
                return
            except Exception:
                if time.monotonic() > deadline:
                    return  # the next attempt reports what is wrong
                time.sleep(0.5)

    def _serve_channel(self, loop: asyncio.AbstractEventLoop) -> None:
        """A thread: take the bodies' requests in batches; logs are kept here, the rest answered on
        the run's loop, in order. It ends within ``POLL_WAIT`` of ``close`` (no Ray call is ever
        cancelled midway)."""
        import ray

        beat_every = max(0.2, min(5.0, self._grace / 4))
        last_beat = 0.0
        while not self.closed:
            if time.monotonic() - last_beat >= beat_every:  # the supervisor keeps the run's tasks
                last_beat = time.monotonic()
                try:
                    self._sup.beat.remote()
                except Exception:
                    pass
            try:
                batch = ray.get(self._channel.take.remote(min(POLL_WAIT, beat_every), 2000, self._epoch))
            except Exception:
                if self.closed:
                    return
                time.sleep(POLL_WAIT)
                continue
            batch = self._keep_logs(batch)
            if batch:
                try:
                    loop.call_soon_threadsafe(self._dispatch, batch)
                except RuntimeError:  # the run's loop has closed
                    return

    def _keep_logs(self, batch: list[tuple[int, str, str, Any]]) -> list[tuple[int, str, str, Any]]:
        """Keep the logs of a batch at once (they need no answer); return the other requests."""
        rest = []
        for item in batch:
            if item[1] not in self._aids:
                continue  # an earlier run's late request (the channel is reused): not this run's
            if item[2] == "log" and item[0] == 0 and self._last is not None:
                self._last.keep_log(item[3])
            else:
                rest.append(item)
        return rest

    def _dispatch(self, batch: list[tuple[int, str, str, Any]]) -> None:
        for rid, aid, kind, payload in batch:
            self._spawn(self._answer(rid, aid, kind, payload))

    async def _answer(self, rid: int, aid: str, kind: str, payload: Any) -> None:
        # An action that has ended can still have requests in flight (its log, a journal write):
        # those concern the run, not the action, and any of the run's actions answers them; a child
        # call of an ended action is refused by that action's handler (it is not running).
        action = self._actions.get(aid) or self._last
        if action is None:
            from flyte.errors import ActionAbortedError
            from flyte.extend import dump_error

            reply: tuple[bool, Any] = (
                False,
                dump_error(ActionAbortedError(f"Action {aid} is no longer running."), "the controller"),
            )
        else:
            reply = await action.reply(kind, payload)
        if rid:  # the answers of one turn of the loop go back in one call
            self._answers.append((rid, reply))
            if len(self._answers) == 1:
                asyncio.get_running_loop().call_soon(self._send_answers)

    def _send_answers(self) -> None:
        answers, self._answers = self._answers, []
        if answers:
            self._channel.answer.remote(answers)

    async def _check_feasible(self, task: TaskTemplate[Any, Any], opts: dict[str, Any]) -> None:
        """Refuse at once what no node of the cluster offers (Ray would wait for it forever)."""
        if os.environ.get("FLYTE_RAY_WAIT_FOR_RESOURCES"):
            return  # an autoscaling cluster may add such a node later
        need = _needs(opts)
        key = (self.address.text, json.dumps(need, sort_keys=True))
        if time.monotonic() - _feasible.get(key, -60.0) < FEASIBLE_FOR_S:
            return  # met a moment ago (a fan-out asks the same thousands of times)
        nodes = await self._alive_nodes()
        if any(all(n.get("Resources", {}).get(k, 0.0) >= v for k, v in need.items()) for n in nodes):
            _feasible[key] = time.monotonic()
            return
        have = sorted({k for n in nodes for k in n.get("Resources", {}) if not k.startswith("node:")})
        raise AcceleratorUnavailableError(
            f"Task {task.name!r} needs {need} on one node, and no node of the Ray cluster "
            f"({len(nodes)} alive) offers that (resources there: {have}). Lower its Resources, add such "
            "a node, or set FLYTE_RAY_WAIT_FOR_RESOURCES=1 to wait for an autoscaler."
        )

    async def _alive_nodes(self) -> list[dict[str, Any]]:
        """The cluster's live nodes, asked at most every 5 s, by one request however many actions
        ask at once (a fan-out's thousands would each ask the GCS otherwise)."""
        at, nodes = self._nodes
        if time.monotonic() - at <= 5.0:
            return nodes
        if self._nodes_fetch is None:
            self._nodes_fetch = asyncio.get_running_loop().create_task(self._fetch_nodes())
        return await asyncio.shield(self._nodes_fetch)

    async def _prefetch_nodes(self) -> None:
        try:
            await self._alive_nodes()
        except Exception:
            pass  # the first action's own check asks again and reports what is wrong

    async def _fetch_nodes(self) -> list[dict[str, Any]]:
        import ray

        try:
            nodes = [n for n in await asyncio.to_thread(ray.nodes) if n.get("Alive")]
            self._nodes = (time.monotonic(), nodes)
            return nodes
        finally:
            self._nodes_fetch = None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    def close(self) -> None:
        """End the run's use of the cluster: its replicas and channel go; the connection stays."""
        if self.closed:
            return
        self.closed = True
        for t in list(self._tasks):
            t.cancel()
        if self._started is None or not self._started.done() or self._started.exception() is not None:
            return
        import ray

        for pool in self._pools.values():
            pool.close()
        try:  # logs posted by the last bodies can still be on their way: keep them before leaving
            for _ in range(20):
                batch = ray.get(self._channel.take.remote(0.2, 2000, self._epoch))
                self._keep_logs(batch)
                if not batch:
                    break
        except Exception:
            pass
        if self._trace is not None:
            self._print_trace()
        # The run ended here: nothing is left to adopt. Its actors stay up for the next run of this
        # process (the supervisor stops what is left of this run's attempts first).
        _kv_del(self._sup_key)
        if self._shared_keys:  # a killed earlier driver's of this run too
            from flyteplugins.ray._remote import shared_prefix

            _kv_del(shared_prefix(self._sup_key), prefix=True)
        if not _keep_spare("channel", (self._channel, self._channel_name)):
            _kill(self._channel)
        try:
            self._sup.release.remote(self._token)
        except Exception:
            _kill(self._sup)
            return
        if not _keep_spare("sup", (self._sup, self._sup_name, self._grace)):
            _kill(self._sup)

    def _print_trace(self) -> None:
        """``FLYTE_RAY_TRACE``: the driver's and the supervisor's marks, seconds from the run's
        first action, on stderr."""
        import ray

        since = self._trace.marks["drv_action"][0]
        out = {"driver": self._trace.report(since)}
        try:
            prof = os.environ.get("FLYTE_RAY_PROFILE", "")
            if prof:
                prof = f"{prof}.{os.getpid()}.{self._epoch}"
            out["supervisor"] = ray.get(self._sup.trace_report.remote(since, prof), timeout=10)
            if prof:
                time.sleep(0.3)  # the collector writes its profile at its next turn
        except Exception as e:
            out["supervisor"] = repr(e)
        print("FLYTE_RAY_TRACE " + json.dumps(out), file=sys.stderr, flush=True)


def _kill(handle: Any) -> None:
    import ray

    try:
        ray.kill(handle)
    except Exception:
        pass


def _recovering(action: RemoteAction) -> bool:
    """Whether a killed driver of this run may have started this action (see ``adopt``)."""
    c = action.c
    rec = c.recorded.get(action.action_id)
    if rec is not None:
        return bool(rec.status == "RUNNING")
    return bool(c.recorded_positions)


def _needs(opts: dict[str, Any]) -> dict[str, float]:
    need: dict[str, float] = {"CPU": float(opts.get("num_cpus", 0))}
    if opts.get("num_gpus"):
        need["GPU"] = float(opts["num_gpus"])
    if opts.get("memory"):
        need["memory"] = float(opts["memory"])
    if opts.get("accelerator_type"):
        need[f"accelerator_type:{opts['accelerator_type']}"] = 0.001
    for k, v in (opts.get("resources") or {}).items():
        need[k] = float(v)
    return {k: v for k, v in need.items() if v > 0}


def _translate(task: TaskTemplate[Any, Any], e: BaseException) -> BaseException:
    """A Ray error as what the parent should see: a system loss to retry, or a final error."""
    import ray

    ex = ray.exceptions
    if isinstance(e, ex.OutOfMemoryError):
        short = task.short_name or task.name.rsplit(".", 1)[-1]
        return OOMError(
            f"Task {task.name!r} was stopped by Ray's memory monitor on its node (the node ran out of "
            f'memory): {e}. Ask for more, e.g. {short}.override(resources=flyte.Resources(memory="4Gi")), '
            "so Ray places it on a node that has it."
        )
    if isinstance(e, ex.RuntimeEnvSetupError):
        return NonRecoverableError(f"Task {task.name!r}: Ray could not set up its environment: {e}")
    if isinstance(e, (ex.TaskUnschedulableError, ex.ActorUnschedulableError)):
        return AcceleratorUnavailableError(f"Task {task.name!r} cannot be placed on the Ray cluster: {e}")
    if isinstance(e, ex.TaskCancelledError):
        from flyte.errors import ActionAbortedError

        return ActionAbortedError(f"Task {task.name!r} was cancelled on the Ray cluster.")
    if isinstance(e, ex.RayTaskError):  # the runner itself failed, before or after the task's body
        return NonRecoverableError(
            f"Task {task.name!r}: flyte's runner failed on the Ray node: {e}. Every node needs "
            "flyte-core and flyte-plugin-ray installed, and the task's module importable."
        )
    return _Lost(
        f"the Ray cluster lost the attempt ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})."
    )


def _connect_error(address: RayAddress, e: BaseException) -> BaseException:
    return NonRecoverableError(
        f"Could not connect to the Ray cluster at {address.text!r} ({type(e).__name__}: {e}). Start it "
        "(`ray start --head`), or check the address: 'ray://HOST:10001' for Ray Client, "
        "'ray+direct://HOST:6379' from a node of the cluster."
    )
