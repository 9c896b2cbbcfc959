"""What runs on the cluster: the controller's channel actor, one-shot action tasks, warm replicas.

A body that calls a child task (or records a trace step) sends a request to the run's
:class:`Channel` actor; the driver takes requests from it in batches, answers them on its controller
and puts the answers back, so the journal and the action IDs never leave the driver. Requests of one
body reach the channel in the order they were made (Ray keeps a caller's actor calls in order), which
keeps child action IDs deterministic.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import time
from typing import Any

CHANNEL_CONCURRENCY = 1_000_000
"""Requests waiting for an answer at once (they are coroutines on the channel's loop, not threads)."""
NAMESPACE = "flyte"
"""The Ray namespace of the runs' named actors: a recovered driver (another Ray job) finds them."""
DRIVER_GONE = "driver-gone"
"""The marker of a body that needed its driver (a child call, a step ID) after the driver died."""


class Channel:
    """The run's mailbox between bodies on the cluster and the controller on the driver."""

    def __init__(self) -> None:
        self._inbox: asyncio.Queue[tuple[int, str, str, Any]] = asyncio.Queue()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)

    async def request(self, action_id: str, kind: str, payload: Any) -> Any:
        """From a body: one request; returns the controller's ``(ok, value)``."""
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        self._inbox.put_nowait((rid, action_id, kind, payload))
        try:
            return await fut
        finally:
            self._waiting.pop(rid, None)

    def post(self, action_id: str, kind: str, payload: Any) -> None:
        """From a body: a request that needs no answer (a journal write)."""
        self._inbox.put_nowait((0, action_id, kind, payload))

    async def take(self, wait: float, most: int = 2000) -> list[tuple[int, str, str, Any]]:
        """From the driver: the requests waiting now (after up to ``wait`` seconds for the first)."""
        try:
            async with asyncio.timeout(wait):  # not wait_for: on Python 3.11 it can lose a cancel
                first = await self._inbox.get()
        except TimeoutError:
            return []
        out = [first]
        while len(out) < most and not self._inbox.empty():
            out.append(self._inbox.get_nowait())
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


def run_action(spec: dict[str, Any], channel: str) -> tuple[bool, Any]:
    """A one-shot Ray task: one attempt of one action (errors come back as data)."""
    from flyte.extend import run_action_here

    transport = ChannelTransport(channel, spec["action_id"])
    result = run_action_here(spec, transport, _where("Ray worker"))
    if transport.lost and not result[0]:
        return False, (DRIVER_GONE, "the body needed its driver (a child call) after the driver stopped")
    return result


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


class Supervisor:
    """The run's detached actor that submits its one-shot action tasks (issue 23: adoption).

    Ray ties a task to its owner: tasks the driver submits die with it. Submitted from this actor
    (detached, named after the run) they keep running when the driver is killed, and a recovered
    driver asks it for them by action ID: a finished one's result is used, a running one awaited.
    No driver heartbeat within ``grace`` seconds: it stops its tasks, notes why in the run's store
    (``worker-orphaned.json``, as orphaned worker processes do) and exits.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.beat_at = time.monotonic()
        self.jobs: dict[str, tuple[dict[str, Any], asyncio.Task[tuple[str, Any]]]] = {}
        self.fns: dict[str, Any] = {}
        self.watch: asyncio.Task[None] | None = None

    def _touch(self) -> None:
        self.beat_at = time.monotonic()
        if self.watch is None:
            self.watch = asyncio.get_running_loop().create_task(self._watch())

    async def beat(self) -> None:
        """From the driver, every few seconds while it lives."""
        self._touch()

    async def run(self, opts: dict[str, Any], spec: dict[str, Any], channel: str) -> tuple[str, Any]:
        """Run one attempt: ``("ok", (ok, payload))`` or ``("ray-error", exc)`` (a Ray failure)."""
        self._touch()
        aid = spec["action_id"]
        old = self.jobs.pop(aid, None)
        if old is not None and not old[1].done():
            old[1].cancel()  # a fresh run of the same name: it does not adopt
        job = asyncio.get_running_loop().create_task(self._execute(opts, spec, channel))
        self.jobs[aid] = (spec, job)
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            job.cancel()  # the driver cancelled it (a timeout, an aborted parent)
            raise

    async def _execute(self, opts: dict[str, Any], spec: dict[str, Any], channel: str) -> tuple[str, Any]:
        import json

        import ray

        key = json.dumps(opts, sort_keys=True, default=str)
        fn = self.fns.get(key)
        if fn is None:
            fn = self.fns[key] = ray.remote(run_action).options(**opts, max_retries=0)
        ref = fn.remote(spec, channel)
        try:
            return "ok", await ref
        except asyncio.CancelledError:
            ray.cancel(ref, force=True)
            raise
        except ray.exceptions.RayError as e:
            return "ray-error", e

    async def adopt(self, action_id: str) -> tuple[str, tuple[str, Any]] | None:
        """From a recovered driver: ``(how, result)`` of an action started before it, or None."""
        self._touch()
        got = self.jobs.get(action_id)
        if got is None:
            return None
        job = got[1]
        how = "finished while the driver was down"
        if not job.done():
            how = "awaited: still running when the driver came back"
        try:
            return how, await asyncio.shield(job)
        except asyncio.CancelledError:
            return None

    async def forget(self, action_ids: list[str]) -> None:
        """The driver has these results (it sends them in batches): drop them."""
        for aid in action_ids:
            got = self.jobs.get(aid)
            if got is not None and got[1].done():
                del self.jobs[aid]

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, max(0.05, self.grace / 10)))
            if time.monotonic() - self.beat_at > self.grace:
                break
        why = (
            f"its driver stopped and no recovered driver adopted it within {self.grace:g}s "
            "(FLYTE_ORPHAN_GRACE_SECONDS); the run's Ray supervisor stopped it"
        )
        for spec, job in list(self.jobs.values()):
            if job.done():
                continue
            job.cancel()
            try:
                _note_orphaned(spec, why)
            except Exception as e:  # the note is best effort: say it where Ray keeps the log
                print(f"flyte: could not note orphaned action {spec['action_id']}: {e}", flush=True)
        print(f"flyte: {why}", flush=True)
        await asyncio.sleep(0.5)  # the cancels reach the raylets
        os._exit(0)  # its remaining tasks die with their owner


def _note_orphaned(spec: dict[str, Any], why: str) -> None:
    os.environ.update(spec.get("env") or {})  # the store's options
    from flyte.extend import store_for, write_orphaned

    write_orphaned(store_for(spec["run_prefix"]), spec["run_prefix"], spec["action_id"], why)


def supervisor_name(run_name: str, run_prefix: str) -> str:
    """The same for every driver of a run (the store prefix keeps two flyte homes apart)."""
    import hashlib

    return "flyte-run-" + hashlib.sha1(f"{run_prefix}|{run_name}".encode()).hexdigest()[:20]
