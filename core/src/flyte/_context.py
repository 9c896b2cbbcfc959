"""Where code is running: inside a run (which action, which controller) or plain Python.

One ContextVar holds the current action; asyncio copies it into every child task, so concurrent
children each see their own action. Outside a run it is ``None`` and tasks are plain calls.

``flyte.ctx()`` gives task code a :class:`TaskContext` shaped like the reference SDK's
(``flyte.models.TaskContext``): ``action`` (an :class:`ActionID`), ``raw_data_path``, ``mode``,
``custom_context``, ``data``, ``checkpoint_paths`` ... plus this SDK's own ``run_name``,
``action_id``, ``action_name``, ``attempt`` and ``group``. Outside a task it returns a falsy context
whose fields are all ``None`` (so ``if flyte.ctx():`` tells whether code runs in a task).
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._checkpoint import Checkpoint
    from flyte._runtime.controller import ActionState
    from flyte._runtime.controller_api import ControllerAPI


@dataclass(slots=True)  # slots: one is made per child action (issue 20)
class ActionContext:
    """The state a running action exposes to code inside it (and to the children it calls)."""

    controller: ControllerAPI  # the driver's Controller, or a worker's RemoteController
    action: ActionState
    in_trace: bool = False
    group: str | None = None
    custom: dict[str, str] = field(default_factory=dict)

    def __init__(  # by hand: one is made per child (issue 20), the generated one calls a factory
        self,
        controller: ControllerAPI,
        action: ActionState,
        in_trace: bool = False,
        group: str | None = None,
        custom: dict[str, str] | None = None,
    ) -> None:
        self.controller = controller
        self.action = action
        self.in_trace = in_trace
        self.group = group
        self.custom = {} if custom is None else custom


current_action: contextvars.ContextVar[ActionContext | None] = contextvars.ContextVar(
    "flyte_current_action", default=None
)


@dataclass(frozen=True)
class ActionID:
    """Which action this is: its ``name`` (the action's ID) within run ``run_name``."""

    name: str
    run_name: str | None = None
    project: str | None = None
    domain: str | None = None
    org: str | None = None


class RawDataPath(str):
    """Where the run keeps its data: a ``str`` (the URI) that also has the reference SDK's ``.path``."""

    @property
    def path(self) -> str:
        return str(self)


@dataclass(frozen=True)
class GroupData:
    """The ``flyte.group`` the action was called in."""

    name: str


@dataclass(frozen=True)
class CheckpointPaths:
    """Object-store prefixes a task may checkpoint to (this attempt's, and the previous attempt's)."""

    prev_checkpoint_path: str | None
    checkpoint_path: str | None


@dataclass(frozen=True, kw_only=True)
class TaskContext:
    """What ``flyte.ctx()`` returns inside a task: identity of the action and per-action data.

    Fields the reference SDK has for remote execution only (``code_bundle``,
    ``compiled_image_cache``, ``input_path``) are ``None`` locally; ``report`` is the attempt's
    :class:`flyte.report.Report` in a ``report=True`` task (else ``None`` until one is used).
    """

    action: ActionID
    run_name: str
    action_id: str
    action_name: str
    attempt: int
    group: str | None
    raw_data_path: RawDataPath
    version: str = "local"
    input_path: str | None = None
    output_path: str = ""
    run_base_dir: str = ""
    report: Any = None
    group_data: GroupData | None = None
    checkpoint_paths: CheckpointPaths | None = None
    code_bundle: Any = None
    compiled_image_cache: Any = None
    data: dict[str, Any] = field(default_factory=dict)
    mode: str = "local"
    interactive_mode: bool = False
    custom_context: dict[str, str] = field(default_factory=dict)
    disable_run_cache: bool = False
    in_driver_literal_conversion: bool = False
    run_start_time: datetime.datetime | None = None
    task_action: ActionID | None = None

    @property
    def attempt_number(self) -> int:
        """The attempt of this action, 0 for the first (``attempt`` under the reference SDK's name)."""
        return self.attempt

    def is_in_cluster(self) -> bool:
        return self.mode == "remote"

    def replace(self, **changes: Any) -> TaskContext:
        return dataclasses.replace(self, **changes)

    def __getitem__(self, key: str) -> Any:
        return self.data.get(key)

    def __bool__(self) -> bool:
        return True

    @property
    def checkpoint(self) -> Checkpoint:
        """This attempt's checkpoint; ``load`` gives what the newest earlier attempt saved."""
        from flyte._checkpoint import checkpoint_for

        key = f"__flyte_checkpoint_{self.attempt}__"
        cp = self.data.get(key)
        if cp is None:
            cp = self.data[key] = checkpoint_for(self.raw_data_path, self.action_id, self.attempt)
        return cp  # type: ignore[no-any-return]


class _NullTaskContext(TaskContext):
    """``flyte.ctx()`` outside a task: every field ``None``, and falsy."""

    def __init__(self) -> None:
        for f in dataclasses.fields(TaskContext):
            object.__setattr__(self, f.name, None)

    @property
    def attempt_number(self) -> int:  # type: ignore[override]
        return 0

    def __getitem__(self, key: str) -> Any:
        return None

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NullTaskContext()"


NULL_TASK_CONTEXT: TaskContext = _NullTaskContext()


def ctx() -> TaskContext:
    """The current task's context; outside a run a falsy context whose fields are ``None``."""
    ac = current_action.get()
    if ac is None:
        return NULL_TASK_CONTEXT
    a = ac.action
    c = ac.controller
    run_name = c.run_name
    project, domain, org = c.identity
    action = ActionID(name=a.action_id, run_name=run_name, project=project, domain=domain, org=org)
    prefix: str = c.run_prefix
    base = prefix.rstrip("/") + "/" + a.action_id
    started = c.started_at
    return TaskContext(
        action=action,
        task_action=action,
        run_name=run_name,
        action_id=a.action_id,
        action_name=a.task_name,
        attempt=a.attempt,
        group=ac.group,
        group_data=None if ac.group is None else GroupData(ac.group),
        custom_context=dict(ac.custom),
        data=a.data,
        report=getattr(a, "report", None),
        raw_data_path=RawDataPath(prefix),
        output_path=base,
        run_base_dir=prefix,
        checkpoint_paths=CheckpointPaths(
            prev_checkpoint_path=f"{base}/checkpoint/{a.attempt - 1}" if a.attempt > 0 else None,
            checkpoint_path=f"{base}/checkpoint/{a.attempt}",
        ),
        disable_run_cache=c.disable_run_cache,
        run_start_time=(
            datetime.datetime.now(datetime.UTC)
            if started is None
            else datetime.datetime.fromtimestamp(started, datetime.UTC)
        ),
    )
