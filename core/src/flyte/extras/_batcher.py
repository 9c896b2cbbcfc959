"""Batch work from many concurrent producers through one async function.

A shared, costly resource (a model on a GPU, a rate-limited bulk API) is used best when it sees
full batches. Producers call ``submit`` and get a future back; a collector task gathers queued
items into batches bounded by a cost budget, a size cap and a wait time, and a worker task feeds
each batch to the processing function and hands every result to its own submitter's future.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from flyte.errors import InvalidParameterError

_log = logging.getLogger(__name__)

RecordT = TypeVar("RecordT")
ResultT = TypeVar("ResultT")

ProcessFn = Callable[[list[RecordT]], Awaitable[list[ResultT]]]
InferenceFn = ProcessFn  # type: ignore[type-arg]  # same generic alias, LLM name
CostEstimatorFn = Callable[[RecordT], int]
TokenEstimatorFn = CostEstimatorFn  # type: ignore[type-arg]  # same generic alias, token name


@runtime_checkable
class CostEstimator(Protocol):
    """A record that knows its own cost, used when ``submit`` is given none."""

    def estimate_cost(self) -> int: ...


@runtime_checkable
class TokenEstimator(Protocol):
    """A record that knows its own token count, used by ``TokenBatcher``."""

    def estimate_tokens(self) -> int: ...


@dataclass
class BatchStats:
    """Counters a batcher keeps while it runs, for tuning its limits."""

    total_submitted: int = 0
    total_completed: int = 0
    total_batches: int = 0
    total_batch_cost: int = 0
    avg_batch_size: float = 0.0
    avg_batch_cost: float = 0.0
    busy_time_s: float = 0.0
    idle_time_s: float = 0.0

    @property
    def utilization(self) -> float:
        """Share of the worker's time spent inside the processing function (0.0 to 1.0)."""
        spent = self.busy_time_s + self.idle_time_s
        return self.busy_time_s / spent if spent > 0 else 0.0


class _Pending(Generic[RecordT, ResultT]):
    """One submitted record, its cost and the future its submitter awaits."""

    __slots__ = ("cost", "future", "record")

    def __init__(self, record: RecordT, cost: int) -> None:
        self.record = record
        self.cost = cost
        self.future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()


_STOP: Any = object()  # end-of-input marker on both internal queues


def _positive_int(field: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidParameterError("DynamicBatcher", field, value, f"Use an integer >= {minimum}.")
    return value


class DynamicBatcher(Generic[RecordT, ResultT]):
    """Collect records from concurrent producers into cost-bounded batches for one async function.

    ``process_fn`` receives a list of records and must return one result per record, in order. A
    batch is dispatched once its summed cost reaches ``target_batch_cost``, it holds
    ``max_batch_size`` records, or ``batch_timeout_s`` has passed since its first record arrived.
    ``submit`` waits while ``max_queue_size`` records are already queued (backpressure). ``stop``
    (or leaving ``async with``) processes everything already submitted before returning.
    """

    def __init__(
        self,
        process_fn: ProcessFn[RecordT, ResultT],
        *,
        cost_estimator: CostEstimatorFn[RecordT] | None = None,
        target_batch_cost: int = 32_000,
        max_batch_size: int = 256,
        min_batch_size: int = 1,
        batch_timeout_s: float = 0.05,
        max_queue_size: int = 5_000,
        prefetch_batches: int = 2,
        default_cost: int = 1,
    ) -> None:
        if not callable(process_fn):
            raise InvalidParameterError(
                "DynamicBatcher",
                "process_fn",
                process_fn,
                "Pass an async function: list of records -> list of results.",
            )
        self._process_fn = process_fn
        self._cost_estimator = cost_estimator
        self._target_batch_cost = _positive_int("target_batch_cost", target_batch_cost)
        self._max_batch_size = _positive_int("max_batch_size", max_batch_size)
        self._min_batch_size = _positive_int("min_batch_size", min_batch_size)
        if self._min_batch_size > self._max_batch_size:
            raise InvalidParameterError(
                "DynamicBatcher",
                "min_batch_size",
                min_batch_size,
                f"It must not exceed max_batch_size={max_batch_size}.",
            )
        if (
            isinstance(batch_timeout_s, bool)
            or not isinstance(batch_timeout_s, (int, float))
            or batch_timeout_s < 0
        ):
            raise InvalidParameterError(
                "DynamicBatcher", "batch_timeout_s", batch_timeout_s, "Use a number of seconds >= 0."
            )
        self._batch_timeout_s = float(batch_timeout_s)
        self._max_queue_size = _positive_int("max_queue_size", max_queue_size, minimum=0)
        self._prefetch_batches = _positive_int("prefetch_batches", prefetch_batches)
        self._default_cost = _positive_int("default_cost", default_cost, minimum=0)
        self._stats = BatchStats()
        self._running = False
        self._stopping = False
        self._inbox: asyncio.Queue[Any] | None = None
        self._ready: asyncio.Queue[Any] | None = None
        self._collector: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def stats(self) -> BatchStats:
        """The live counters (the same object while the batcher lives)."""
        return self._stats

    @property
    def is_running(self) -> bool:
        """True between ``start`` and the end of ``stop``."""
        return self._running

    async def start(self) -> None:
        """Start the collector and worker tasks on the running event loop."""
        if self._running:
            raise RuntimeError(f"{type(self).__name__} is already running")
        # Queues are made here, not in __init__, so they belong to the loop that runs the batcher.
        self._inbox = asyncio.Queue(maxsize=self._max_queue_size)
        self._ready = asyncio.Queue(maxsize=self._prefetch_batches)
        self._stopping = False
        self._running = True
        self._collector = asyncio.create_task(self._collect(), name="batcher-collector")
        self._worker = asyncio.create_task(self._work(), name="batcher-worker")

    async def stop(self) -> None:
        """Process every record already submitted, then end both tasks; a no-op when not running."""
        if not self._running or self._inbox is None:
            return
        self._stopping = True
        await self._inbox.put(_STOP)
        try:
            for task in (self._collector, self._worker):
                if task is not None:
                    await task
        finally:
            self._running = False

    async def submit(self, record: RecordT, *, estimated_cost: int | None = None) -> asyncio.Future[ResultT]:
        """Queue one record; the returned future resolves to its result (or raises the batch's error)."""
        if not self._running or self._stopping or self._inbox is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() or use 'async with'")
        pending: _Pending[RecordT, ResultT] = _Pending(record, self._estimate_cost(record, estimated_cost))
        await self._inbox.put(pending)
        self._stats.total_submitted += 1
        return pending.future

    async def submit_batch(
        self, records: Sequence[RecordT], *, estimated_cost: Sequence[int] | None = None
    ) -> list[asyncio.Future[ResultT]]:
        """Queue several records in order, with optional per-record costs; one future each."""
        if estimated_cost is not None and len(estimated_cost) != len(records):
            raise InvalidParameterError(
                "DynamicBatcher.submit_batch",
                "estimated_cost",
                estimated_cost,
                f"Give one cost per record ({len(records)} records).",
            )
        futures = []
        for i, record in enumerate(records):
            cost = None if estimated_cost is None else estimated_cost[i]
            futures.append(await self.submit(record, estimated_cost=cost))
        return futures

    async def __aenter__(self) -> DynamicBatcher[RecordT, ResultT]:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _estimate_cost(self, record: RecordT, override: int | None) -> int:
        if override is not None:
            return override
        if self._cost_estimator is not None:
            return self._cost_estimator(record)
        if isinstance(record, CostEstimator):
            return record.estimate_cost()
        return self._default_cost

    async def _collect(self) -> None:
        """Group queued records into batches and hand them to the worker."""
        assert self._inbox is not None and self._ready is not None
        inbox, ready = self._inbox, self._ready
        carry: list[_Pending[RecordT, ResultT]] = []  # a batch held back by min_batch_size
        while True:
            batch = carry
            carry = []
            if not batch:
                first = await inbox.get()
                if first is _STOP:
                    break
                batch.append(first)
            cost = sum(p.cost for p in batch)
            deadline = time.monotonic() + self._batch_timeout_s
            stopped = False
            while cost < self._target_batch_cost and len(batch) < self._max_batch_size:
                left = deadline - time.monotonic()
                try:
                    if left <= 0:
                        item = inbox.get_nowait()
                    else:
                        async with asyncio.timeout(left):  # not wait_for: it can lose a cancel on 3.11
                            item = await inbox.get()
                except (TimeoutError, asyncio.QueueEmpty):
                    break
                if item is _STOP:
                    stopped = True
                    break
                batch.append(item)
                cost += item.cost
            if stopped or len(batch) >= self._min_batch_size:
                await ready.put(batch)
            else:
                carry = batch
            if stopped:
                break
        await ready.put(_STOP)

    async def _work(self) -> None:
        """Run each batch through process_fn and settle its futures."""
        assert self._ready is not None
        ready, stats = self._ready, self._stats
        waiting_since = time.monotonic()
        while True:
            batch = await ready.get()
            started = time.monotonic()
            stats.idle_time_s += started - waiting_since
            if batch is _STOP:
                return
            try:
                results = await self._process_fn([p.record for p in batch])
                if len(results) != len(batch):
                    raise ValueError(
                        f"process_fn returned {len(results)} results for a batch of {len(batch)} records; "
                        "it must return exactly one result per record, in order"
                    )
            except Exception as exc:  # every submitter in the failed batch sees the error
                _log.warning("%s: batch of %d failed: %s", type(self).__name__, len(batch), exc)
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
            else:
                for p, result in zip(batch, results):
                    if not p.future.done():
                        p.future.set_result(result)
            waiting_since = time.monotonic()
            stats.busy_time_s += waiting_since - started
            stats.total_batches += 1
            stats.total_completed += len(batch)
            stats.total_batch_cost += sum(p.cost for p in batch)
            stats.avg_batch_size = stats.total_completed / stats.total_batches
            stats.avg_batch_cost = stats.total_batch_cost / stats.total_batches


@dataclass
class Prompt:
    """A plain text prompt whose token count is estimated at about four characters per token."""

    text: str

    def estimate_tokens(self) -> int:
        return len(self.text) // 4 + 1


class TokenBatcher(DynamicBatcher[RecordT, ResultT]):
    """A ``DynamicBatcher`` spoken in tokens, for LLM inference.

    Accepts ``inference_fn``/``token_estimator``/``target_batch_tokens``/``default_token_estimate``
    as aliases of the cost-named arguments, and asks records for ``estimate_tokens()`` before
    ``estimate_cost()``.
    """

    def __init__(
        self,
        inference_fn: ProcessFn[RecordT, ResultT] | None = None,
        *,
        process_fn: ProcessFn[RecordT, ResultT] | None = None,
        token_estimator: CostEstimatorFn[RecordT] | None = None,
        cost_estimator: CostEstimatorFn[RecordT] | None = None,
        target_batch_tokens: int | None = None,
        target_batch_cost: int = 32_000,
        default_token_estimate: int | None = None,
        default_cost: int = 1,
        max_batch_size: int = 256,
        min_batch_size: int = 1,
        batch_timeout_s: float = 0.05,
        max_queue_size: int = 5_000,
        prefetch_batches: int = 2,
    ) -> None:
        fn = inference_fn or process_fn
        if fn is None:
            raise TypeError(
                "TokenBatcher needs 'inference_fn' (or 'process_fn'): the async function run per batch"
            )
        super().__init__(
            fn,
            cost_estimator=token_estimator or cost_estimator,
            target_batch_cost=target_batch_cost if target_batch_tokens is None else target_batch_tokens,
            max_batch_size=max_batch_size,
            min_batch_size=min_batch_size,
            batch_timeout_s=batch_timeout_s,
            max_queue_size=max_queue_size,
            prefetch_batches=prefetch_batches,
            default_cost=default_cost if default_token_estimate is None else default_token_estimate,
        )

    def _estimate_cost(self, record: RecordT, override: int | None) -> int:
        if override is None and self._cost_estimator is None and isinstance(record, TokenEstimator):
            return record.estimate_tokens()
        return super()._estimate_cost(record, override)

    async def submit(  # type: ignore[override]
        self, record: RecordT, *, estimated_tokens: int | None = None, estimated_cost: int | None = None
    ) -> asyncio.Future[ResultT]:
        """Queue one record with an optional token (or cost) estimate."""
        return await super().submit(
            record, estimated_cost=estimated_cost if estimated_tokens is None else estimated_tokens
        )
