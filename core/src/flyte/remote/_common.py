"""A class method callable as ``Cls.m(...)`` and ``await Cls.m.aio(...)`` (the anchor's syncify)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flyte._run import _SyncAio


class syncify_classmethod:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, objtype: Any = None) -> _SyncAio[..., Any]:
        return _SyncAio(self._fn, objtype if objtype is not None else type(obj))
