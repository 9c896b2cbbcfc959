"""``serialize``/``serialize_env``: task specs built offline (what ``flyte serialize`` writes).

The anchor returns flyteidl2 protobuf TaskSpecs; these return our JSON-able TaskSpec models (see
docs/compat.md, "TaskSpec and flyteidl2").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._environment import TaskEnvironment
    from flyte._serialization import SerializationContext
    from flyte._spec import TaskSpec
    from flyte._task import TaskTemplate


def serialize(task: TaskTemplate[Any, Any], ctx: SerializationContext | None = None) -> TaskSpec:
    """The spec of one task; ``ctx`` sets project, domain, version and paths."""
    from flyte._task import TaskTemplate
    from flyte.errors import InvalidParameterError

    if not isinstance(task, TaskTemplate):
        raise InvalidParameterError(
            "flyte.extras.serialize", "task", task, "Pass a task (an @env.task function)."
        )
    return task.spec(ctx)


def serialize_env(env: TaskEnvironment, ctx: SerializationContext | None = None) -> list[TaskSpec]:
    """The specs of every task of ``env``."""
    return [serialize(t, ctx) for t in env.tasks.values()]
