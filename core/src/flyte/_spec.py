"""TaskSpec: the JSON-serialisable description of a task, built by calling its hooks.

Used by ``flyte serialize`` and by plugins that hand a task to another system. Secrets appear by
name only, never by value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from flyte._serialization import SerializationContext

if TYPE_CHECKING:
    from flyte._task import TaskTemplate


class InterfaceSpec(BaseModel):
    inputs: dict[str, Any] = Field(description="JSON schema of each input")
    defaults: dict[str, Any] = Field(default_factory=dict)
    output: Any = Field(description="JSON schema of the output, null when none")


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    short_name: str
    environment: str | None
    identity: str
    version: str
    task_type: str
    task_type_version: int
    interface: InterfaceSpec
    docs: str | None = None
    image: Any = None
    resources: dict[str, Any] | None = None
    env_vars: dict[str, str] = Field(default_factory=dict)
    secrets: list[dict[str, Any]] = Field(default_factory=list)
    cache: dict[str, Any]
    retries: dict[str, Any]
    timeout: dict[str, Any] | None = None
    reusable: dict[str, Any] | None = None
    max_inline_io_bytes: int
    custom_config: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, str] = Field(default_factory=dict)
    container_args: list[str] = Field(default_factory=list)
    sql: str | None = None
    k8s_pod: dict[str, Any] | None = None
    triggers: list[dict[str, Any]] = Field(default_factory=list)
    links: list[dict[str, Any]] = Field(default_factory=list)
    interruptible: bool = False
    queue: str | None = None
    service_account: str | None = None
    include: list[str] = Field(default_factory=list)


def build_task_spec(t: TaskTemplate[Any, Any], sctx: SerializationContext) -> TaskSpec:
    from flyte._spec_data import task_spec_data

    return TaskSpec(**task_spec_data(t, sctx))
