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


def _schema(hint: Any) -> Any:
    if hint is None:
        return None
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(hint).json_schema()
    except Exception:
        return {"x-flyte-type": "pickle", "title": repr(hint)}


def _json_default(v: Any) -> Any:
    from pydantic_core import to_jsonable_python

    try:
        return to_jsonable_python(v)
    except Exception:
        return repr(v)


def build_task_spec(t: TaskTemplate[Any, Any], sctx: SerializationContext) -> TaskSpec:
    import inspect

    defaults = {
        k: _json_default(d) for k, (_, d) in t.interface.inputs.items() if d is not inspect.Parameter.empty
    }
    image: Any = t.image
    if image is not None and not isinstance(image, str):
        image = image.to_dict()
    pod = getattr(t, "k8s_pod", None)
    return TaskSpec(
        name=t.name,
        short_name=t.short_name or t.name,
        environment=t.env_name,
        identity=t.identity,
        version=sctx.version or t.source_version(),
        task_type=t.task_type,
        task_type_version=t.task_type_version,
        interface=InterfaceSpec(
            inputs={k: _schema(h) for k, (h, _) in t.interface.inputs.items()},
            defaults=defaults,
            output=_schema(t.interface.output),
        ),
        docs=t.docs,
        image=image,
        resources=t.resources.to_dict() if t.resources is not None else None,
        env_vars=dict(t.env_vars),
        secrets=[s.to_dict() for s in t.secrets],
        cache=t.cache.to_dict(),
        retries=t.retries.to_dict(),
        timeout=t.timeout.to_dict() if t.timeout is not None else None,
        reusable=t.reusable.to_dict() if t.reusable is not None else None,
        max_inline_io_bytes=t.max_inline_io_bytes,
        custom_config=_jsonable(t.custom_config(sctx)),
        config=dict(t.config(sctx)),
        container_args=list(t.container_args(sctx)),
        sql=t.sql(sctx),
        k8s_pod=pod(sctx) if callable(pod) else None,
        triggers=[tr.to_dict() for tr in t.triggers],
        links=[
            {"name": getattr(ln, "name", type(ln).__name__), "type": type(ln).__qualname__} for ln in t.links
        ],
        interruptible=t.interruptible,
        queue=t.queue,
        service_account=t.service_account,
        include=list(t.include),
    )


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(d, default=_json_default))  # type: ignore[no-any-return]
