"""Type transformers: how a plugin's own value types (a Spark DataFrame, a BigQuery table) cross
task boundaries. A transformer turns a value into a small JSON reference (offloading the data to
the run's object store itself) and back; the journal only ever holds the reference.
"""

from __future__ import annotations

from typing import Any

from flyte._plugins.contract import TypeTransformer

__all__ = ["TypeTransformer", "find_transformer", "type_path"]


def type_path(hint: Any) -> str | None:
    if isinstance(hint, type):
        return f"{hint.__module__}.{hint.__qualname__}"
    return None


def find_transformer(hint: Any) -> TypeTransformer | None:
    """The transformer for a type (or one of its bases), loading plugins on first need."""
    if getattr(hint, "__metadata__", None) is not None:  # Annotated[T, ...]: T's transformer
        hint = hint.__origin__
    if not isinstance(hint, type) or hint.__module__ in ("builtins", "typing", "datetime", "flyte.io._file"):
        return None
    from flyte._plugins.manager import load_plugins

    registry = load_plugins().types
    for base in hint.__mro__:
        path = type_path(base)
        if path is not None:
            factory = registry.get(path)
            if factory is not None:
                return factory()  # type: ignore[no-any-return]
    return None
