"""Small definition-time checks shared by public constructors (issue 18 point 11).

Each raises :class:`flyte.errors.InvalidParameterTypeError` (a ``TypeError`` and a ``ValueError``) for a
value of the wrong type and :class:`flyte.errors.InvalidParameterError` for a value out of range; both
messages name the owner, the parameter, the value and the fix. Kept free of heavy imports so
``import flyte`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flyte.errors import InvalidParameterError, InvalidParameterTypeError


def check_bool(owner: str, param: str, value: Any, *, optional: bool = False) -> Any:
    """``True``/``False`` (or ``None`` when ``optional``); a truthy string is a mistake, not a flag."""
    if (optional and value is None) or isinstance(value, bool):
        return value
    fix = "Pass True or False" + (" (or None to inherit)." if optional else ".")
    raise InvalidParameterTypeError(owner, param, value, fix)


def check_str(
    owner: str, param: str, value: Any, *, optional: bool = False, nonempty: bool = False, fix: str = ""
) -> Any:
    """A string (or ``None`` when ``optional``); ``nonempty`` refuses ``""`` and blanks."""
    if optional and value is None:
        return value
    if not isinstance(value, str):
        accepted = fix or ("Pass a string" + (" or None." if optional else "."))
        raise InvalidParameterTypeError(owner, param, value, accepted)
    if nonempty and not value.strip():
        raise InvalidParameterError(owner, param, value, fix or "Pass a non-empty string.")
    return value


def check_path(owner: str, param: str, value: Any, *, optional: bool = False) -> Any:
    """A filesystem path (``str`` or ``os.PathLike``), not empty."""
    if optional and value is None:
        return value
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidParameterTypeError(owner, param, value, "Pass a path (str or pathlib.Path).")
    if not os.fspath(value):
        raise InvalidParameterError(owner, param, value, "Pass a non-empty path.")
    return value


def check_str_map(owner: str, param: str, value: Any, *, optional: bool = True) -> Any:
    """A mapping of string keys to string values (or ``None`` when ``optional``)."""
    if optional and value is None:
        return value
    if not isinstance(value, Mapping):
        raise InvalidParameterTypeError(
            owner, param, value, "Pass a dict of string keys to string values, e.g. {'team': 'ml'}."
        )
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            raise InvalidParameterTypeError(
                owner, param, value, f"Keys must be non-empty strings; got {k!r}."
            )
        if not isinstance(v, str):
            raise InvalidParameterTypeError(
                owner, param, value, f"Values must be strings; {k!r} is {type(v).__name__}: use str(...)."
            )
    return value


def check_number(
    owner: str,
    param: str,
    value: Any,
    *,
    optional: bool = False,
    integer: bool = False,
    minimum: float | None = None,
    positive: bool = False,
) -> Any:
    """An int (``integer``) or a real number, at least ``minimum`` or above 0 (``positive``)."""
    if optional and value is None:
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and isinstance(value, float))
    ):
        what = "an int" if integer else "a number"
        raise InvalidParameterTypeError(
            owner, param, value, f"Pass {what}" + (" or None." if optional else ".")
        )
    number = float(value)
    if positive and not number > 0:
        raise InvalidParameterError(owner, param, value, "Pass a value greater than 0.")
    if minimum is not None and not number >= minimum:
        raise InvalidParameterError(owner, param, value, f"Pass a value of at least {minimum}.")
    if number != number:  # NaN
        raise InvalidParameterError(owner, param, value, "Pass a real number, not NaN.")
    return value


def check_choice(
    owner: str, param: str, value: Any, choices: tuple[Any, ...], *, optional: bool = False
) -> Any:
    """One of ``choices`` (strings), or ``None`` when ``optional``."""
    if optional and value is None:
        return value
    if not isinstance(value, str):
        raise InvalidParameterTypeError(owner, param, value, f"Pass one of {list(choices)}.")
    if value not in choices:
        raise InvalidParameterError(owner, param, value, f"Pass one of {list(choices)}.")
    return value


def check_pod_template(owner: str, value: Any) -> Any:
    """``pod_template=``: ``None``, a ``flyte.PodTemplate`` or the name of a cluster template."""
    if value is None:
        return value
    from flyte._pod import PodTemplate

    if isinstance(value, PodTemplate):
        return value
    if isinstance(value, str):
        if not value.strip():
            raise InvalidParameterError(
                owner, "pod_template", value, "Pass a template name or flyte.PodTemplate(...)."
            )
        return value
    raise InvalidParameterTypeError(
        owner,
        "pod_template",
        value,
        "Expected pod_template to be of type str or PodTemplate: use flyte.PodTemplate(pod_spec=...).",
    )


def check_docs(owner: str, param: str, value: Any) -> Any:
    """``docs=``/``description=``: ``None``, a string or a ``flyte.Documentation``."""
    if value is None or isinstance(value, str):
        return value
    from flyte._doc import Documentation

    if isinstance(value, Documentation):
        return value
    raise InvalidParameterTypeError(
        owner, param, value, "Pass a string or flyte.Documentation(description=...)."
    )


def check_notifications(owner: str, value: Any) -> Any:
    """``notifications=``: ``None``, a notification rule object or a tuple/list of them.

    Notifications need a control plane and are only recorded here; plain strings, numbers and dicts
    are certainly mistakes, so they are refused.
    """
    if value is None:
        return value
    items = value if isinstance(value, (tuple, list)) else (value,)
    for item in items:
        if item is None or isinstance(item, (str, bytes, int, float, bool, Mapping, set, tuple, list)):
            raise InvalidParameterTypeError(
                owner, "notifications", value, "Pass a notification object, a tuple of them, or None."
            )
    return value


def param_error(
    owner: str,
    param: str,
    value: Any,
    accepted: str,
    *,
    types: type | tuple[type, ...] = object,
    wrong_type: bool | None = None,
) -> InvalidParameterError:
    """The error for a bad ``value``: :class:`InvalidParameterTypeError` when it is not one of ``types``
    (``bool`` never counts as a number) or ``wrong_type`` says so, else :class:`InvalidParameterError`
    (a value of the right type, out of range)."""
    kinds = types if isinstance(types, tuple) else (types,)
    wrong = not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
    if wrong_type is not None:
        wrong = wrong_type
    cls = InvalidParameterTypeError if wrong else InvalidParameterError
    return cls(owner, param, value, accepted)
