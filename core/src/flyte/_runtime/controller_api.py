"""What code inside an action may ask of the controller running it: :class:`ControllerAPI`.

Two classes implement it: the run's :class:`~flyte._runtime.controller.Controller` (the driver, which
owns the journal, the action IDs and the places actions run in) and the worker side's
:class:`~flyte._runtime.placement.worker_main.RemoteController` (inside a worker process or a
cluster's body, where each request goes back to the driver). Task calls, traces, durable steps,
``flyte.ctx()``, reports, ``flyte.map`` and the io types reach the controller only through
``ActionContext.controller``, typed as this protocol, so neither side can grow a dependency on the
other's internals without mypy saying so (``worker_main.controller_for``, typed to return this
protocol, is the proof for the worker side; every ``ActionContext(self, ...)`` for the driver's).

Light on purpose: everything but ``typing`` is imported for type checking only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable

    from flyte._context import ActionContext
    from flyte._runtime.controller import ActionState, RecordedAction, SyncPool
    from flyte._runtime.journal import ActionRow
    from flyte._runtime.store import ObjectStore
    from flyte._task import TaskTemplate

Identity = tuple[str | None, str | None, str | None]
"""(project, domain, org) of the run, as ``flyte.ctx().action`` shows them."""


class StepJournal(Protocol):
    """The journal writes a recorded step (a trace, a durable clock or sleep) makes."""

    def action_ended(self, row: ActionRow, /) -> None:
        """Queue the step's row; nobody waits for it (sync code on the run's loop)."""

    def flush(self) -> None:
        """Commit what is queued now."""

    def action_finished(self, row: ActionRow, /) -> Awaitable[None]:
        """The step's row; resolves once it is durable."""
        ...


class ControllerAPI(Protocol):
    """The controller of the current action, as task bodies and the runtime around them use it."""

    @property
    def run_name(self) -> str: ...

    @property
    def run_prefix(self) -> str:
        """Where the run keeps its data (a store URI)."""
        ...

    @property
    def store(self) -> ObjectStore: ...

    @property
    def journal(self) -> StepJournal: ...

    @property
    def recovered_from(self) -> str | None:
        """The run whose recorded actions this one reuses (``None``: not a recovery)."""
        ...

    @property
    def recovering(self) -> bool:
        """An earlier execution recorded calls: a step must land at the position it had then."""
        ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop children are submitted on (``None`` before the run starts)."""
        ...

    @property
    def sync_pool(self) -> SyncPool:
        """The bounded pool sync task bodies run on."""
        ...

    @property
    def identity(self) -> Identity: ...

    @property
    def started_at(self) -> float | None:
        """When the run started (epoch seconds); ``None``: unknown here."""
        ...

    @property
    def disable_run_cache(self) -> bool: ...

    def call(
        self,
        tmpl: TaskTemplate[Any, Any],
        pac: ActionContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        via_aio: bool,
    ) -> Any:
        """Call child task ``tmpl`` from the action of ``pac``: its output, or an awaitable of it."""

    def sync_body(self, action: ActionState, call: Callable[[], Any]) -> Callable[[], Any]:
        """What to run on ``sync_pool`` for a sync body (the driver wraps it to track its state)."""
        ...

    def recorded_action(self, action_id: str) -> RecordedAction | None:
        """What an earlier execution recorded for ``action_id`` (``None``: nothing)."""

    def recorded_position(self, parent_id: str, position: int) -> str | None:
        """Which task or step an earlier execution called at ``position`` of ``parent_id``."""

    def copy_recovered(
        self, action_id: str, parent_id: str | None = None, position: int | None = None
    ) -> None:
        """Copy a step reused from the run recovered from into this run's record."""

    def store_value(self, action_id: str, name: str, data: bytes) -> bytes:
        """``data`` as the journal keeps it: inline, or a reference to the store when large."""
        ...

    def load_value(self, data: bytes) -> bytes:
        """The bytes ``store_value`` kept."""
        ...
