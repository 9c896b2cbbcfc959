"""Give a child's exception to its parent as both its own type and ``RuntimeUserError``.

The combined class is named ``RuntimeUserError`` (``RetriesExhaustedError`` after retries), as the
anchor's parents see it; ``code`` keeps the original type's name.

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
            # Named as the anchor names what a parent catches (``RuntimeUserError``, code = the
            # original type's name); still an instance of the original type.
            cls = type(
                base.__name__,
                (orig, base),
                {"__module__": base.__module__, "__qualname__": base.__qualname__},
            )
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
    wrapped: BaseException | None = None if cls is None else _rebuild(cls, orig, exc)
    if wrapped is None:
        wrapped = base(code or orig.__name__, str(exc))
        wrapped.__cause__ = exc
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


def _rebuild(cls: type, orig: type[BaseException], exc: BaseException) -> BaseException | None:
    """An instance of the combined class carrying ``exc``'s state, or ``None`` when it cannot be made.

    The user's ``__init__`` is not called (its signature need not match ``args``); the nearest
    built-in exception's ``__init__`` is, so C-level fields (``UnicodeError.reason``, ``OSError.errno``,
    ``SyntaxError.lineno`` ...) and therefore ``str()`` come out as on the original.
    """
    args: tuple[Any, ...] = exc.args
    if isinstance(exc, OSError) and exc.filename is not None:  # the file names are not in ``args``
        args = (exc.errno, exc.strerror, exc.filename, None, exc.filename2)
    try:
        wrapped: BaseException = cls.__new__(cls, *args)
    except Exception:  # e.g. pydantic's ValidationError needs more than ``args`` to be made
        return None
    builtin: Any = next((t for t in orig.__mro__ if t.__module__ == "builtins"), BaseException)
    try:
        builtin.__init__(wrapped, *args)
    except Exception:
        pass
    try:
        wrapped.__dict__.update(exc.__dict__)
    except Exception:
        return None
    wrapped.args = exc.args
    try:
        same = str(wrapped) == str(exc)
    except Exception:
        same = False
    return wrapped if same else None  # state kept outside __dict__/args: better the plain wrapper


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
