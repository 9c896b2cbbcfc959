"""Give a child's exception to its parent as both its own type and ``RuntimeUserError``.

``except ValueError`` and ``except flyte.errors.RuntimeUserError as e: e.code == "ValueError"`` both
work on the same instance. Where Python cannot combine the two classes (layout conflicts), the parent
gets a ``RuntimeUserError`` whose ``__cause__`` is the original.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from flyte.errors import BaseRuntimeError, RetriesExhaustedError, RuntimeUserError

_classes: dict[tuple[type, type], type | None] = {}


def _combined(orig: type[BaseException], base: type[RuntimeUserError]) -> type | None:
    key = (orig, base)
    if key not in _classes:
        try:
            cls = type(orig.__name__, (orig, base), {"__module__": orig.__module__, "__qualname__": orig.__qualname__})
            _classes[key] = cls
        except TypeError:
            _classes[key] = None
    return _classes[key]


def as_user_error(exc: BaseException, retries_exhausted: bool = False, attempts: int = 1) -> BaseException:
    """The exception the parent sees for a failed child."""
    base: type[RuntimeUserError] = RetriesExhaustedError if retries_exhausted else RuntimeUserError
    if isinstance(exc, base):
        exc.attempts = attempts  # type: ignore[attr-defined]
        return exc
    if isinstance(exc, BaseRuntimeError) and not retries_exhausted:
        return exc
    orig = getattr(exc, "_flyte_original_type", type(exc))
    cls = _combined(orig, base) if isinstance(exc, Exception) else None
    code = getattr(exc, "code", None) if isinstance(exc, BaseRuntimeError) else orig.__name__
    if cls is None:
        wrapped: BaseException = base(code or orig.__name__, str(exc))
        wrapped.__cause__ = exc
    else:
        wrapped = cls.__new__(cls, *exc.args)
        wrapped.__dict__.update(exc.__dict__)
        wrapped.args = exc.args
    w: Any = wrapped
    w.code = code or orig.__name__
    w.kind = "user"
    w.worker = None
    w.attempts = attempts
    w._flyte_original_type = orig
    wrapped.__traceback__ = exc.__traceback__
    if wrapped.__cause__ is None and exc.__cause__ is not None:
        wrapped.__cause__ = exc.__cause__
    return wrapped


def error_record(exc: BaseException) -> str:
    """The JSON the journal keeps for a failure (type, code, message, traceback)."""
    orig = getattr(exc, "_flyte_original_type", type(exc))
    return json.dumps(
        {
            "type": f"{orig.__module__}.{orig.__qualname__}",
            "code": getattr(exc, "code", orig.__name__),
            "kind": getattr(exc, "kind", "user"),
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-8000:],
        }
    )
