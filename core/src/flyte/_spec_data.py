"""A task's spec as plain data: the fields of ``TaskSpec`` (``_spec.py``) without pydantic.

Why (issue 20): a run records each task's spec (what ``flyte ui`` shows); building the pydantic model
imported pydantic into every run, ~12 MB of the controller's memory. Primitive hints get their JSON
schema here; other hints (and non-primitive defaults) still ask pydantic, only when present.
"""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._serialization import SerializationContext
    from flyte._task import TaskTemplate

_PRIM_SCHEMAS: dict[Any, str] = {int: "integer", float: "number", str: "string", bool: "boolean"}
_PLAIN = (str, int, float, bool, type(None))


def schema(hint: Any) -> Any:
    """JSON schema of a type hint (what pydantic's ``TypeAdapter(hint).json_schema()`` gives)."""
    if hint is None:
        return None
    try:
        name = _PRIM_SCHEMAS.get(hint)
    except TypeError:  # an unhashable hint (Annotated metadata)
        name = None
    if name is not None:
        return {"type": name}
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(hint).json_schema()
    except Exception:
        return {"x-flyte-type": "pickle", "title": repr(hint)}


def json_default(v: Any) -> Any:
    """A value as JSON data (pydantic's conversion, for what ``json`` cannot write itself)."""
    if isinstance(v, _PLAIN):
        return v
    from pydantic_core import to_jsonable_python

    try:
        return to_jsonable_python(v)
    except Exception:
        return repr(v)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d, default=json_default))  # type: ignore[no-any-return]


def task_spec_data(t: TaskTemplate[Any, Any], sctx: SerializationContext) -> dict[str, Any]:
    """Every ``TaskSpec`` field, in its order, built by calling the task's hooks."""
    defaults = {
        k: json_default(d) for k, (_, d) in t.interface.inputs.items() if d is not inspect.Parameter.empty
    }
    image: Any = t.image
    if image is not None and not isinstance(image, str):
        image = image.to_dict()
    pod = getattr(t, "k8s_pod", None)
    return {
        "name": t.name,
        "short_name": t.short_name or t.name,
        "environment": t.env_name,
        "identity": t.identity,
        "version": sctx.version or t.source_version(),
        "task_type": t.task_type,
        "task_type_version": t.task_type_version,
        "interface": {
            "inputs": {k: schema(h) for k, (h, _) in t.interface.inputs.items()},
            "defaults": defaults,
            "output": schema(t.interface.output),
        },
        "docs": t.docs,
        "image": image,
        "resources": t.resources.to_dict() if t.resources is not None else None,
        "env_vars": dict(t.env_vars),
        "secrets": [s.to_dict() for s in t.secrets],
        "cache": t.cache.to_dict(),
        "retries": t.retries.to_dict(),
        "timeout": t.timeout.to_dict() if t.timeout is not None else None,
        "reusable": t.reusable.to_dict() if t.reusable is not None else None,
        "max_inline_io_bytes": t.max_inline_io_bytes,
        "custom_config": _jsonable(t.custom_config(sctx)),
        "config": dict(t.config(sctx)),
        "container_args": list(t.container_args(sctx)),
        "sql": t.sql(sctx),
        "k8s_pod": pod(sctx) if callable(pod) else None,
        "triggers": [tr.to_dict() for tr in t.triggers],
        "links": [
            {"name": getattr(ln, "name", type(ln).__name__), "type": type(ln).__qualname__} for ln in t.links
        ],
        "interruptible": t.interruptible,
        "queue": t.queue,
        "service_account": t.service_account,
        "include": list(t.include),
    }


def task_spec_json(t: TaskTemplate[Any, Any], sctx: SerializationContext) -> str:
    """The spec as compact JSON: the bytes ``TaskSpec.model_dump_json()`` writes for it."""
    return json.dumps(
        task_spec_data(t, sctx), separators=(",", ":"), ensure_ascii=False, default=json_default
    )
