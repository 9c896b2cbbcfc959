"""Where code is running: inside a run (which action, which controller) or plain Python.

One ContextVar holds the current action; asyncio copies it into every child task, so concurrent
children each see their own action. Outside a run it is ``None`` and tasks are plain calls.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._checkpoint import Checkpoint
    from flyte._runtime.controller import ActionState, Controller


@dataclass
class ActionContext:
    """The state a running action exposes to code inside it (and to the children it calls)."""

    controller: Controller
    action: ActionState
    in_trace: bool = False
    group: str | None = None
    custom: dict[str, str] = field(default_factory=dict)


current_action: contextvars.ContextVar[ActionContext | None] = contextvars.ContextVar(
    "flyte_current_action", default=None
)


@dataclass
class TaskContext:
    """What ``flyte.ctx()`` returns inside a task: identity of the action and per-action data."""

    run_name: str
    action_id: str
    action_name: str
    attempt: int
    mode: str
    group: str | None
    custom_context: dict[str, str]
    data: dict[str, Any]
    raw_data_path: str

    @property
    def action(self) -> str:
        return self.action_id

    @property
    def checkpoint(self) -> Checkpoint:
        """This attempt's checkpoint; ``load`` gives what the newest earlier attempt saved."""
        from flyte._checkpoint import checkpoint_for

        key = f"__flyte_checkpoint_{self.attempt}__"
        cp = self.data.get(key)
        if cp is None:
            cp = self.data[key] = checkpoint_for(self.raw_data_path, self.action_id, self.attempt)
        return cp  # type: ignore[no-any-return]


def ctx() -> TaskContext | None:
    """Return the current task's context, or ``None`` outside a run."""
    ac = current_action.get()
    if ac is None:
        return None
    a = ac.action
    return TaskContext(
        run_name=ac.controller.run_name,
        action_id=a.action_id,
        action_name=a.task_name,
        attempt=a.attempt,
        mode="local",
        group=ac.group,
        custom_context=dict(ac.custom),
        data=a.data,
        raw_data_path=ac.controller.run_prefix,
    )
