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
from typing import Any

CHANNEL_CONCURRENCY = 1_000_000
"""Requests waiting for an answer at once (they are coroutines on the channel's loop, not threads)."""


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

        handle = _channels[name] = ray.get_actor(name)
        if len(_channels) > 64:  # runs come and go; keep the latest ones
            _channels.pop(next(iter(_channels)))
    return handle


class ChannelTransport:
    """A body's link to its controller (``flyte.extend.Transport``) through the channel actor."""

    def __init__(self, channel: str, action_id: str) -> None:
        self._name = channel
        self._handle: Any = None
        self.action_id = action_id

    @property
    def channel(self) -> Any:
        if self._handle is None:  # only bodies that call children or record steps need it
            self._handle = channel_named(self._name)
        return self._handle

    def request(self, kind: str, payload: Any) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = self.channel.request.remote(
            self.action_id, kind, payload
        ).future()
        return fut

    def post(self, kind: str, payload: Any) -> None:
        self.channel.post.remote(self.action_id, kind, payload)


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

    return run_action_here(spec, ChannelTransport(channel, spec["action_id"]), _where("Ray worker"))


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
