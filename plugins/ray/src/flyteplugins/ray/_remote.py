"""What runs on the cluster: the controller's channel actor, one-shot action tasks, warm replicas.

A body that calls a child task (or records a trace step) sends a request to the run's
:class:`Channel` actor; the driver takes requests from it in batches, answers them on its controller
and puts the answers back, so the journal and the action IDs never leave the driver. Requests of one
body reach the channel in the order they were made (Ray keeps a caller's actor calls in order), which
keeps child action IDs deterministic.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import os
import pickle
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

CHANNEL_CONCURRENCY = 1_000_000
"""Requests waiting for an answer at once (they are coroutines on the channel's loop, not threads)."""
NAMESPACE = "flyte"
"""The Ray namespace of the runs' named actors: a recovered driver (another Ray job) finds them."""
DRIVER_GONE = "driver-gone"
SPARE_IDLE_S = 60.0
"""A supervisor with no attempts and no driver beat for this long exits (a spare its driver
process left for a next run that did not come)."""
SUBMIT_YIELD = 32
"""The supervisor lets its loop turn after starting this many Ray tasks of one ``submit`` (results
come back and the driver's polls are answered while a large batch is going out)."""
COLLECT_WINDOW = 512
"""The supervisor's collector waits on this many of its oldest running tasks at once (a fan-out's
tasks end in about the order they started); the others are looked at every ``COLLECT_SCAN_S``."""
COLLECT_SCAN_S = 0.25
COLLECT_FEW = 64
"""With at most this many tasks running, the collector wakes at the first one that ends (a lone
child's result goes back at once); with more, it gathers for up to ``COLLECT_LINGER_S``, or until
``COLLECT_BATCH`` have ended. Each wait costs the supervisor ~1 ms of CPU over a full window (a
10k fan-out took 400-600 waits at 20 ms, 0.35-0.55 s of its CPU), so a busy fan-out waits longer."""
COLLECT_LINGER_S = 0.05
COLLECT_BATCH = 128
COLLECT_FEW_WAIT_S = 0.01
"""How long a wait on a few tasks lasts (a task started meanwhile is waited on from the next one)."""
TASK_EVENTS = os.environ.get("FLYTE_RAY_TASK_EVENTS", "") not in ("", "0", "false", "False")
"""Ray's own per-task state events (its dashboard's task list and timeline), off by default: the
run's journal records every attempt already, and the events cost each task CPU on its owner, its
worker and the GCS. ``FLYTE_RAY_TASK_EVENTS=1`` (on the cluster's nodes) turns them back on."""
TRACE = os.environ.get("FLYTE_RAY_TRACE", "") not in ("", "0")
"""Timing counters of the supervisor and the driver (``FLYTE_RAY_TRACE=1`` on the driver and the
nodes): where a fan-out's wall time goes, printed by the driver at the end of the run."""


class Trace:
    """Counters and first/last marks (``time.monotonic``), kept only when ``TRACE`` is on."""

    def __init__(self) -> None:
        self.marks: dict[str, list[float]] = {}
        self.counts: dict[str, float] = collections.defaultdict(float)
        self.cpu0 = time.process_time()
        self.threads0 = _thread_cpu()

    def mark(self, what: str, n: int = 1) -> None:
        now = time.monotonic()
        m = self.marks.get(what)
        if m is None:
            self.marks[what] = [now, now]
        else:
            m[1] = now
        self.counts[what] += n

    def add(self, what: str, value: float) -> None:
        self.counts[what] += value

    def report(self, since: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: [round(a - since, 3), round(b - since, 3)] for k, (a, b) in self.marks.items()
        }
        out.update({f"n_{k}": round(v, 3) for k, v in self.counts.items()})
        out["cpu_s"] = round(time.process_time() - self.cpu0, 3)
        now = _thread_cpu()
        by = {k: round(v - self.threads0.get(k, 0.0), 3) for k, v in now.items()}
        out["threads_cpu_s"] = {k: v for k, v in sorted(by.items(), key=lambda kv: -kv[1]) if v >= 0.01}
        return out


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads by name (Linux ``/proc``; empty elsewhere)."""
    out: dict[str, float] = collections.defaultdict(float)
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                head, _, rest = f.read().rpartition(")")
            fields = rest.split()
            out[head.partition("(")[2]] += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return out


class Channel:
    """The run's mailbox between bodies on the cluster and the controller on the driver."""

    def __init__(self) -> None:
        self._inbox: collections.deque[tuple[int, str, str, Any]] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._epoch = 0  # the run that takes requests now (a channel serves its process's runs in turn)

    def _put(self, item: tuple[int, str, str, Any]) -> None:
        self._inbox.append(item)
        if self._arrived is not None:
            self._arrived.set()

    async def request(self, action_id: str, kind: str, payload: Any) -> Any:
        """From a body: one request; returns the controller's ``(ok, value)``."""
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        self._put((rid, action_id, kind, payload))
        try:
            return await fut
        finally:
            self._waiting.pop(rid, None)

    async def request_many(
        self, action_id: str, items: list[tuple[str, Any]]
    ) -> AsyncIterator[list[tuple[int, Any]]]:
        """From a body: the requests it made in one turn of its loop, in one actor call (a fan-out
        of thousands is then a few calls, not thousands). A streaming generator: it yields
        ``(index, (ok, value))`` of the answers as they come, so a child that ends early is not
        held back by a slow sibling of its batch."""
        loop = asyncio.get_running_loop()
        futs: dict[asyncio.Future[Any], int] = {}
        rids = []
        for i, (kind, payload) in enumerate(items):
            rid = next(self._ids)
            fut: asyncio.Future[Any] = loop.create_future()
            self._waiting[rid] = fut
            futs[fut] = i
            rids.append(rid)
            self._put((rid, action_id, kind, payload))
        try:
            pending = set(futs)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                yield [(futs[f], f.result()) for f in done]
        finally:
            for rid in rids:
                self._waiting.pop(rid, None)

    def post(self, action_id: str, kind: str, payload: Any) -> None:
        """From a body: a request that needs no answer (a journal write)."""
        self._put((0, action_id, kind, payload))

    async def take(self, wait: float, most: int = 2000, epoch: int = 0) -> list[tuple[int, str, str, Any]]:
        """From the driver: the requests waiting now (after up to ``wait`` seconds for the first).
        ``epoch`` names the driver's run: a later run's call makes an earlier run's (a poll still
        on its way after that run ended) come back empty, leaving the requests to the later run."""
        if epoch > self._epoch:
            self._epoch = epoch
        if self._arrived is None:
            self._arrived = asyncio.Event()
        if not self._inbox:
            self._arrived.clear()
            try:
                async with asyncio.timeout(wait):  # not wait_for: on Python 3.11 it can lose a cancel
                    await self._arrived.wait()
            except TimeoutError:
                return []
        if epoch < self._epoch:
            return []
        out: list[tuple[int, str, str, Any]] = []
        while self._inbox and len(out) < most:
            out.append(self._inbox.popleft())
        return out

    def answer(self, replies: list[tuple[int, Any]]) -> None:
        """From the driver: answers to earlier requests."""
        for rid, value in replies:
            fut = self._waiting.get(rid)
            if fut is not None and not fut.done():
                fut.set_result(value)


_channels: dict[str, Any] = {}
"""Channel actors by name, looked up once per worker process (a handle in every task's arguments
would cost a borrower registration with the driver per task)."""


def channel_named(name: str) -> Any:
    handle = _channels.get(name)
    if handle is None:
        import ray

        handle = _channels[name] = ray.get_actor(name, namespace=NAMESPACE)
        if len(_channels) > 64:  # runs come and go; keep the latest ones
            _channels.pop(next(iter(_channels)))
    return handle


class ChannelTransport:
    """A body's link to its controller (``flyte.extend.Transport``) through the channel actor."""

    def __init__(self, channel: str, action_id: str) -> None:
        self._name = channel
        self._handle: Any = None
        self.action_id = action_id
        self.lost = False  # the body asked the driver for something after the driver died
        self._drains: set[asyncio.Task[None]] = set()

    @property
    def channel(self) -> Any:
        if self._handle is None:  # only bodies that call children or record steps need it
            self._handle = channel_named(self._name)
        return self._handle

    def request(self, kind: str, payload: Any) -> concurrent.futures.Future[Any]:
        import ray

        try:
            fut: concurrent.futures.Future[Any] = self.channel.request.remote(
                self.action_id, kind, payload
            ).future()
        except ValueError as e:  # no such actor: its driver is gone
            self.lost = True
            fut = concurrent.futures.Future()
            fut.set_exception(e)
            return fut

        def check(f: concurrent.futures.Future[Any]) -> None:
            if isinstance(f.exception(), ray.exceptions.RayActorError):
                self.lost = True

        fut.add_done_callback(check)
        return fut

    def request_many(self, items: list[tuple[str, Any]]) -> list[concurrent.futures.Future[Any]]:
        """Several requests in one channel call; a future per request, each set as its answer
        comes (the answers stream back in the order they are ready)."""

        futs: list[concurrent.futures.Future[Any]] = [concurrent.futures.Future() for _ in items]
        try:
            gen = self.channel.request_many.options(num_returns="streaming").remote(self.action_id, items)
        except ValueError as e:  # no such actor: its driver is gone
            self.lost = True
            for f in futs:
                f.set_exception(e)
            return futs
        task = asyncio.get_running_loop().create_task(self._drain(gen, futs))
        self._drains.add(task)  # the loop keeps only a weak reference to its tasks
        task.add_done_callback(self._drains.discard)
        return futs

    async def _drain(self, gen: Any, futs: list[concurrent.futures.Future[Any]]) -> None:
        """Hand each streamed answer to its request's future; a lost channel fails the rest."""
        import ray

        try:
            async for ref in gen:
                for i, value in await ref:
                    if not futs[i].done():
                        futs[i].set_result(value)
            err: BaseException = RuntimeError("the channel ended a batch without answering it all")
        except BaseException as e:  # the channel (its driver) went away
            if isinstance(e, ray.exceptions.RayActorError):
                self.lost = True
            err = e
        for f in futs:
            if not f.done():
                f.set_exception(err)
        if isinstance(err, asyncio.CancelledError):
            raise err

    def post(self, kind: str, payload: Any) -> None:
        try:
            self.channel.post.remote(self.action_id, kind, payload)
        except ValueError:
            pass  # the driver is gone: what the body printed stays in the Ray worker's log


_node_ip: list[str] = []


def _where(what: str) -> str:
    import os

    if not _node_ip:
        import ray

        _node_ip.append(ray.util.get_node_ip_address())
    return f"{what} {os.getpid()} on Ray node {_node_ip[0]}"


def pack(value: Any) -> Any:
    """``value`` pickled once by whoever makes it, so the supervisor between the driver and the Ray
    task passes bytes on (Ray copies bytes; a dict or tuple it walks and serializes at each hop).
    What plain pickle refuses travels as it is (Ray's own serializer takes it)."""
    try:
        return pickle.dumps(value, protocol=5)
    except Exception:
        return value


def unpack(value: Any) -> Any:
    """The inverse of :func:`pack` (a value that was not packed comes back as it is)."""
    return pickle.loads(value) if isinstance(value, bytes) else value


KV_NAMESPACE = b"flyte"
"""The namespace of the run's entries in Ray's GCS key-value store (the supervisor's name, the
shared part of the children's specs)."""
SPEC_OWN = ("action_id", "inputs", "attempt")
"""A child's own fields of its spec. The rest (template, run identity, import path, settings, the
channel's name) is the same for a run's children of one task: the driver stores it once in the
GCS under a digest of its bytes, and a child's task carries only the digest and these fields."""
SHARED_KEEP = 64
"""Shared parts a worker process keeps (runs come and go; a run has one per task it fans out)."""
_shared: dict[str, tuple[dict[str, Any], str]] = {}
shared_loads: collections.Counter[str] = collections.Counter()
"""How often this process read each shared part from the GCS (once, unless it was dropped)."""


def shared_prefix(sup_key: str) -> str:
    """The run's shared parts' keys start with this (its drivers, a killed one's included, all
    use it: the last one removes them all when the run ends)."""
    return "flyte-spec-" + sup_key.rpartition("-")[2] + "-"


def shared_key(sup_key: str, blob: bytes) -> str:
    import hashlib

    return shared_prefix(sup_key) + hashlib.sha256(blob).hexdigest()[:32]


def task_arg(key: str, spec: dict[str, Any], channel: str) -> Any:
    """A child's Ray task argument: its own fields and the key of the shared part (``key`` empty:
    the whole spec, for a shared part that plain pickle refuses)."""
    if not key:
        return pack(("", (spec, channel)))
    return pack((key, {k: spec[k] for k in SPEC_OWN}))


def shared_part(key: str) -> tuple[dict[str, Any], str]:
    """The shared part of a spec and the channel's name, read from the GCS once per process."""
    got = _shared.get(key)
    if got is None:
        from ray.experimental import internal_kv

        blob = internal_kv._internal_kv_get(key.encode(), namespace=KV_NAMESPACE)
        if not blob:
            raise RuntimeError(
                f"the run's shared task settings ({key}) are not in Ray's GCS any more: the run "
                "ended (or its driver removed them) before this task started"
            )
        got = _shared[key] = pickle.loads(blob)
        shared_loads[key] += 1
        if len(_shared) > SHARED_KEEP:
            _shared.pop(next(iter(_shared)))
    return got


def open_task_arg(packed: Any) -> tuple[dict[str, Any], str]:
    """The inverse of :func:`task_arg`: the child's whole spec and the channel's name."""
    key, own = unpack(packed)
    if not key:
        return own  # type: ignore[no-any-return]
    rest, channel = shared_part(key)
    return {**rest, **own}, channel


def run_action(packed: Any) -> Any:
    """A one-shot Ray task: one attempt of one action (errors come back as data). Takes the packed
    task argument (:func:`task_arg`) and returns the packed ``(ok, payload)``: the supervisor only
    passes bytes on, in both directions."""
    from flyte.extend import run_action_here

    spec, channel = open_task_arg(packed)
    transport = ChannelTransport(channel, spec["action_id"])
    result = run_action_here(spec, transport, _where("Ray worker"))
    if transport.lost and not result[0]:
        result = (False, (DRIVER_GONE, "the body needed its driver (a child call) after the driver stopped"))
    return pack(result)


class Replica:
    """A warm replica of a reusable environment: up to ``concurrency`` actions at once on its loop."""

    def __init__(self, label: str) -> None:
        self.label = label

    def ready(self) -> str:
        """The replica's node (awaited once, so a replica counts only when it has started)."""
        import ray

        return str(ray.util.get_node_ip_address())

    async def run(self, spec: dict[str, Any], channel: str) -> tuple[bool, Any]:
        from flyte.extend import run_action_here_async

        where = _where(f"replica of {self.label!r}, process")
        return await run_action_here_async(spec, ChannelTransport(channel, spec["action_id"]), where)


class _Job:
    """One attempt the supervisor submitted: its Ray task and, once it ended, its result."""

    __slots__ = ("action_id", "done", "packed", "ref", "result")

    def __init__(self, action_id: str, packed: Any, ref: Any) -> None:
        self.action_id = action_id
        self.packed = packed  # the task's argument: opened only to note an orphan
        self.ref = ref
        self.done: asyncio.Future[tuple[str, Any]] | None = None  # made only when awaited (adopt)
        self.result: tuple[str, Any] | None = None

    async def ended(self) -> tuple[str, Any]:
        """Its result, once it has one (a recovered driver awaits a running attempt)."""
        if self.result is not None:
            return self.result
        if self.done is None:
            self.done = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self.done)


class _Collector:
    """A thread of the supervisor that gathers its tasks' results in batches: ``ray.wait`` over
    many refs and one ``ray.get`` of those that ended, handed to the loop in one call. (A callback
    per task, ``ref.future()``, took the GIL on Ray's thread and woke the loop once per task: more
    CPU per child than Ray's own driver spends on it.)"""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[list[tuple[_Job, int, tuple[str, Any]]]], None],
    ) -> None:
        self.loop = loop
        self.deliver = deliver  # called on the loop with [(job, serial, result)]
        self.trace: Trace | None = None
        self.profile: Any = None  # FLYTE_RAY_TRACE with a profile: this thread's cProfile
        self.profile_to = ""  # "start", or where to write it at the next turn ("-": nowhere)
        self.incoming: collections.deque[tuple[Any, _Job, int]] = collections.deque()
        self.pending: dict[Any, tuple[_Job, int]] = {}  # ref -> its job; in the order they started
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name="flyte-collector", daemon=True)
        self.thread.start()

    def add(self, ref: Any, job: _Job, serial: int) -> None:
        """From the loop: a task just started."""
        self.incoming.append((ref, job, serial))
        if not self.wake.is_set():
            self.wake.set()

    def _run(self) -> None:
        scanned = time.monotonic()
        while True:
            try:
                scanned = self._turn(scanned)
            except RuntimeError as e:  # the loop has closed: the actor is going away
                if self.loop.is_closed():
                    return
                print(f"flyte: the supervisor's collector: {e!r}", flush=True)
                time.sleep(0.1)
            except Exception as e:  # keep collecting: results that stop coming would hang the run
                print(f"flyte: the supervisor's collector: {e!r}", flush=True)
                time.sleep(0.1)

    def _turn(self, scanned: float) -> float:
        import ray

        if self.profile_to:
            self._profile_turn()
        pending = self.pending
        while self.incoming:
            ref, job, serial = self.incoming.popleft()
            pending[ref] = (job, serial)
        if not pending:
            self.wake.wait()
            self.wake.clear()  # before the next turn takes what came: no task is missed
            return scanned
        window = list(itertools.islice(pending, COLLECT_WINDOW))
        cpu0 = time.thread_time() if self.trace is not None else 0.0
        t0 = time.monotonic() if self.trace is not None else 0.0
        if len(pending) <= COLLECT_FEW:
            ready, _ = ray.wait(window, num_returns=1, timeout=COLLECT_FEW_WAIT_S)
            if ready and len(window) > 1:
                ready, _ = ray.wait(window, num_returns=len(window), timeout=0)
        else:
            ready, _ = ray.wait(window, num_returns=min(len(window), COLLECT_BATCH), timeout=COLLECT_LINGER_S)
        if len(pending) > COLLECT_WINDOW and time.monotonic() - scanned >= COLLECT_SCAN_S:
            scanned = time.monotonic()  # the tasks past the window: one that ended early is not held
            rest = list(itertools.islice(pending, COLLECT_WINDOW, None))
            ended, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready = ready + ended
        if self.trace is not None:
            self.trace.add("col_wait_s", time.monotonic() - t0)
            self.trace.mark("col_turn")
        if ready:
            t0 = time.monotonic() if self.trace is not None else 0.0
            try:  # one call for the batch; a failed task (rare) makes each be read on its own
                results = [("ok", v) for v in ray.get(ready)]
            except Exception:
                results = [_read(r) for r in ready]
            if self.trace is not None:
                self.trace.add("col_get_s", time.monotonic() - t0)
                self.trace.mark("col_ready", len(ready))
            self.loop.call_soon_threadsafe(
                self.deliver, [(*pending.pop(r), res) for r, res in zip(ready, results, strict=True)]
            )
        if self.trace is not None:
            self.trace.add("col_cpu_s", time.thread_time() - cpu0)
        return scanned

    def _profile_turn(self) -> None:
        import cProfile

        to, self.profile_to = self.profile_to, ""
        if to == "start":
            self.profile = cProfile.Profile()
            self.profile.enable()
        elif self.profile is not None:
            self.profile.disable()
            if to != "-":
                self.profile.dump_stats(to + ".collector")
            self.profile = None


def _read(ref: Any) -> tuple[str, Any]:
    """An ended task's result: ``("ok", packed (ok, payload))`` or ``("ray-error", exception)``."""
    import ray

    try:
        return "ok", ray.get(ref)
    except ray.exceptions.RayError as e:
        return "ray-error", e
    except BaseException as e:  # the result could not be read back
        return "ray-error", RuntimeError(f"its result could not be read: {e!r}")


class Supervisor:
    """The run's detached actor that submits its one-shot action tasks (issue 23: adoption).

    Ray ties a task to its owner: tasks the driver submits die with it. Submitted from this actor
    (detached, named after the run) they keep running when the driver is killed, and a recovered
    driver asks it for them by action ID: a finished one's result is used, a running one awaited.
    No driver heartbeat within ``grace`` seconds: it stops its tasks, notes why in the run's store
    (``worker-orphaned.json``, as orphaned worker processes do) and exits.

    The driver talks to it in batches (one actor call per batch, not per action): ``submit`` takes
    the attempts ready in one turn of the driver's loop, ``completed`` (a long poll) hands back
    every result that came in since the last call.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.beat_at = time.monotonic()
        self.jobs: dict[str, _Job] = {}
        self.by_serial: dict[int, _Job] = {}
        self.fns: dict[str, Any] = {}
        self.watch: asyncio.Task[None] | None = None
        self.driver = ""  # the token of the driver that submits now (a recovered one has a new one)
        self.outbox: list[tuple[int, str, Any]] = []
        self.ready: asyncio.Event | None = None
        self.order: asyncio.Lock | None = None  # submit calls are taken in the order they came
        self.asked = 0  # adoption requests from recovered drivers (for tests and diagnosis)
        self.collector: _Collector | None = None
        self.trace = Trace() if TRACE else None
        self._profile: Any = None

    async def trace_report(self, since: float, profile: str = "") -> dict[str, Any]:
        """The counters since the last report, then a fresh set (a driver with ``FLYTE_RAY_TRACE``
        asks once as its run starts, which turns them on here). ``profile``: a path prefix; the
        loop's and the collector's cProfile stats since the last report are written there."""
        import cProfile

        out = self.trace.report(since) if self.trace is not None else {}
        if self._profile is not None:
            self._profile.disable()
            if profile:
                self._profile.dump_stats(profile + ".loop")
            self._profile = None
        if self.collector is not None and self.collector.profile is not None:
            self.collector.profile_to = profile or "-"
            self.collector.wake.set()
        elif profile:
            self._profile = cProfile.Profile()
            self._profile.enable()
            if self.collector is not None:
                self.collector.profile_to = "start"
        self.trace = Trace()
        if self.collector is not None:
            self.collector.trace = self.trace
        return out

    def _touch(self) -> None:
        self.beat_at = time.monotonic()
        if self.watch is None:
            self.watch = asyncio.get_running_loop().create_task(self._watch())
            self.ready = asyncio.Event()

    def _driver(self, token: str) -> None:
        if token != self.driver:  # a new driver: what was kept for the old one is not its business
            self.driver = token
            self.outbox = []
            self.by_serial = {}

    async def beat(self) -> None:
        """From the driver, every few seconds while it lives."""
        self._touch()

    async def release(self, token: str) -> None:
        """From the driver whose run ended: stop what is left of its attempts and forget them all;
        the supervisor stays up, a spare for the driver process's next run (no process to start)."""
        import ray

        self._touch()
        if token != self.driver:
            return
        for job in self.jobs.values():
            if job.result is None:
                try:
                    ray.cancel(job.ref, force=True)
                except Exception:
                    pass
        self.jobs = {}
        self.by_serial = {}
        self.outbox = []

    async def submit(
        self,
        token: str,
        packed_items: Any,
        opts: dict[str, dict[str, Any]],
        cancels: list[int],
        forget: list[str],
    ) -> None:
        """From the driver: start these attempts (packed ``(serial, options key, action ID, packed
        task argument)``s), stop those it cancelled, drop the results it has. Results come back
        through :meth:`completed`."""
        import ray

        items: list[tuple[int, str, str, Any]] = unpack(packed_items)
        if self.trace is not None:
            self.trace.mark("sup_submit_in", len(items))
        self._touch()
        if self.order is None:
            self.order = asyncio.Lock()
        async with self.order:  # a later call's cancels must not pass this call's attempts
            self._driver(token)
            self._forget(forget)
            for key, o in opts.items():
                if key not in self.fns:
                    self.fns[key] = ray.remote(run_action).options(
                        **o, max_retries=0, enable_task_events=TASK_EVENTS
                    )
            await self._start(items)
            if self.trace is not None:
                self.trace.mark("sup_submit_out", len(items))
            for serial in cancels:  # the driver cancelled it (a timeout, an aborted parent)
                stop = self.by_serial.pop(serial, None)
                if stop is not None and stop.result is None:
                    ray.cancel(stop.ref, force=True)
            if self.outbox and self.ready is not None:
                self.ready.set()

    async def _start(self, items: list[tuple[int, str, str, Any]]) -> None:
        import ray

        if self.collector is None:
            self.collector = _Collector(asyncio.get_running_loop(), self._ended)
            self.collector.trace = self.trace
        add = self.collector.add
        for i, (serial, key, aid, packed) in enumerate(items):
            if i and not i % SUBMIT_YIELD:
                await asyncio.sleep(0)  # results and the driver's polls meanwhile
            old = self.jobs.pop(aid, None)
            if old is not None and old.result is None:
                ray.cancel(old.ref, force=True)  # a fresh run of the same name: it does not adopt
            try:
                ref = self.fns[key].remote(packed)
            except Exception as e:  # refused at submission: a lost attempt to the driver (retried)
                self.outbox.append((serial, "ray-error", RuntimeError(f"Ray refused the task: {e!r}")))
                continue
            job = self.jobs[aid] = self.by_serial[serial] = _Job(aid, packed, ref)
            add(ref, job, serial)

    def _ended(self, ended: list[tuple[_Job, int, tuple[str, Any]]]) -> None:
        """On the loop: tasks the collector saw end; those still the driver's go to its outbox."""
        if self.trace is not None:
            self.trace.mark("sup_ended", len(ended))
        for job, serial, result in ended:
            job.result = result
            if job.done is not None and not job.done.done():
                job.done.set_result(result)
            if self.by_serial.get(serial) is job:  # still the driver's: hand it over (a released
                del self.by_serial[serial]  # run's late task must not take a next run's serial)
                self.outbox.append((serial, *result))
        if self.outbox and self.ready is not None:
            self.ready.set()

    async def completed(
        self, token: str, wait: float, forget: list[str], want: int = 1, linger: float = 0.0
    ) -> Any:
        """From the driver, a long poll: packed ``(serial, kind, value)``s of every attempt that ended since
        the last call (after up to ``wait`` seconds for the first, then up to ``linger`` seconds
        more while fewer than ``want`` are in: one answer per batch, not per result); kind
        ``"ok"`` with the body's packed ``(ok, payload)``, or ``"ray-error"`` with the Ray exception."""
        self._touch()
        self._driver(token)
        self._forget(forget)
        assert self.ready is not None
        if not self.outbox:
            await self._ready(wait)
        if 0 < len(self.outbox) < want and linger > 0:
            end = time.monotonic() + linger
            while len(self.outbox) < want and time.monotonic() < end:
                await self._ready(end - time.monotonic())
        if token != self.driver:
            return []  # a poll of an ended run, answered after the next run took this supervisor
        out, self.outbox = self.outbox, []
        if self.trace is not None:
            self.trace.mark("sup_poll_out", len(out))
        return pack(out)

    async def _ready(self, wait: float) -> None:
        """Until a result comes in (or ``wait`` seconds pass)."""
        assert self.ready is not None
        self.ready.clear()
        try:
            async with asyncio.timeout(wait):  # not wait_for: on Python 3.11 it can lose a cancel
                await self.ready.wait()
        except TimeoutError:
            pass

    async def adopt(self, action_id: str) -> tuple[str, tuple[str, Any]] | None:
        """From a recovered driver: ``(how, result)`` of an action started before it, or None."""
        self._touch()
        self.asked += 1
        job = self.jobs.get(action_id)
        if job is None:
            return None
        how = "finished while the driver was down"
        if job.result is None:
            how = "awaited: still running when the driver came back"
        result = await job.ended()
        if result[0] == "ray-error" and isinstance(result[1], ray_cancelled()):
            return None  # stopped by the old driver (a timeout): not a result to use
        return how, result

    def adoptions_asked(self) -> int:
        """How many actions recovered drivers have asked this supervisor about."""
        return self.asked

    def _forget(self, action_ids: list[str]) -> None:
        """The driver has these results (it sends them in batches): drop them."""
        for aid in action_ids:
            job = self.jobs.get(aid)
            if job is not None and job.result is not None:
                del self.jobs[aid]

    async def _watch(self) -> None:
        import ray

        while True:
            await asyncio.sleep(min(1.0, max(0.05, self.grace / 10)))
            idle = time.monotonic() - self.beat_at
            if idle > self.grace:
                break
            if idle > SPARE_IDLE_S and not self.jobs:
                os._exit(0)  # a spare no run took
        why = (
            f"its driver stopped and no recovered driver adopted it within {self.grace:g}s "
            "(FLYTE_ORPHAN_GRACE_SECONDS); the run's Ray supervisor stopped it"
        )
        for job in list(self.jobs.values()):
            if job.result is not None:
                continue
            try:
                ray.cancel(job.ref, force=True)
            except Exception:
                pass
            try:
                _note_orphaned(open_task_arg(job.packed)[0], why)
            except Exception as e:  # the note is best effort: say it where Ray keeps the log
                print(f"flyte: could not note orphaned action {job.action_id}: {e}", flush=True)
        print(f"flyte: {why}", flush=True)
        await asyncio.sleep(0.5)  # the cancels reach the raylets
        os._exit(0)  # its remaining tasks die with their owner


def ray_cancelled() -> type[BaseException]:
    import ray

    return ray.exceptions.TaskCancelledError


def _note_orphaned(spec: dict[str, Any], why: str) -> None:
    os.environ.update(spec.get("env") or {})  # the store's options
    from flyte.extend import store_for, write_orphaned

    write_orphaned(store_for(spec["run_prefix"]), spec["run_prefix"], spec["action_id"], why)


def supervisor_name(run_name: str, run_prefix: str) -> str:
    """The same for every driver of a run (the store prefix keeps two flyte homes apart)."""
    import hashlib

    return "flyte-run-" + hashlib.sha1(f"{run_prefix}|{run_name}".encode()).hexdigest()[:20]
