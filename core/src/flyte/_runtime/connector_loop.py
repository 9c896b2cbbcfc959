"""Driving a connector's remote job: create it, poll it with backoff, cancel it when the caller is.

One loop for the controller (actions inside a run, which records the job to re-attach after a crash)
and for plugins' plain calls outside a run. The subtle part is cancellation while ``create`` is still
in flight: the remote side may already hold the job while its reply has not reached us, so the
submission is allowed to finish (for a bounded grace period) and whatever it created is deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._plugins.contract import Connector, ResourceMeta

logger = logging.getLogger("flyte.connector")

CREATE_GRACE_S = 30.0
"""How long a cancelled action waits for its in-flight submission, to cancel the job it created."""

_SUCCEEDED = frozenset({"SUCCEEDED", "SUCCESS", "DONE"})
_FAILED = frozenset({"FAILED", "FAILURE", "ERROR", "ABORTED", "TIMEDOUT"})


async def run_connector(
    connector: Connector,
    task: Any,
    inputs: dict[str, Any],
    ctx: Any,
    *,
    meta: ResourceMeta | None = None,
    on_created: Callable[[ResourceMeta], Awaitable[None]] | None = None,
    max_delay: float = 5.0,
) -> Any:
    """The job's outputs once it succeeds; its error when it fails.

    ``meta`` re-attaches to a job created earlier (no new submission). ``on_created`` sees a new job's
    meta before the first poll (the controller records it durably). Cancelling the caller, or a
    timeout around it, cancels the remote job, including one whose submission was still in flight.
    """
    if meta is None:
        meta = await _create(connector, task, inputs, ctx)
        try:
            if on_created is not None:
                await on_created(meta)
        except BaseException:
            await asyncio.shield(connector.delete(meta))
            raise
    delay = 0.05
    try:
        while True:
            res = await connector.get(meta)
            phase = res.phase.upper()
            if phase in _SUCCEEDED:
                return res.outputs
            if phase in _FAILED:
                if isinstance(res.error, BaseException):
                    raise res.error
                raise RuntimeError(res.message or f"{getattr(task, 'task_type', 'remote')} job failed")
            await asyncio.sleep(delay)
            delay = min(delay * 1.6, max_delay)
    except (asyncio.CancelledError, TimeoutError):
        await asyncio.shield(connector.delete(meta))
        raise


async def _create(connector: Connector, task: Any, inputs: dict[str, Any], ctx: Any) -> ResourceMeta:
    creating = asyncio.ensure_future(connector.create(task, inputs, ctx))
    try:
        return await asyncio.shield(creating)
    except (asyncio.CancelledError, TimeoutError):
        await _delete_once_created(connector, creating)
        raise


async def _delete_once_created(connector: Connector, creating: asyncio.Future[ResourceMeta]) -> None:
    done, _ = await asyncio.wait({creating}, timeout=CREATE_GRACE_S)
    if not done:
        creating.cancel()
        logger.warning("submission still in flight after %gs; the remote job may be left", CREATE_GRACE_S)
        return
    if creating.cancelled() or creating.exception() is not None:
        return  # nothing was created
    await asyncio.shield(connector.delete(creating.result()))
