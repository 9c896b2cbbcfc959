"""A task's typed interface, read once from the function signature.

Binding call arguments to parameter names happens on every child call, so it is done with
precomputed names instead of ``inspect.Signature.bind``.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_MISSING: Any = inspect.Parameter.empty


@dataclass(frozen=True)
class NativeInterface:
    """Ordered inputs (name -> (type, default)) and the output type (``None`` for no output)."""

    inputs: Mapping[str, tuple[Any, Any]]
    output: Any
    has_varargs: bool = False

    @classmethod
    def from_function(cls, func: Callable[..., Any]) -> NativeInterface:
        sig = inspect.signature(func)
        try:
            hints = typing.get_type_hints(func, include_extras=True)
        except Exception:
            hints = {k: v for k, v in getattr(func, "__annotations__", {}).items()}
        inputs: dict[str, tuple[Any, Any]] = {}
        has_var = False
        for name, p in sig.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                has_var = True
                continue
            inputs[name] = (hints.get(name, Any), p.default)
        ret = hints.get("return", Any) if sig.return_annotation is not inspect.Signature.empty else Any
        if ret is type(None):
            ret = None
        return cls(inputs=inputs, output=ret, has_varargs=has_var)

    class has_default:
        """Marks an input declared ``(type, NativeInterface.has_default)``: its default comes from
        ``default_inputs``."""

    @classmethod
    def from_callable(cls, func: Callable[..., Any]) -> NativeInterface:
        """The anchor's name for :meth:`from_function`."""
        return cls.from_function(func)

    @classmethod
    def from_types(
        cls,
        inputs: Mapping[str, Any],
        output: Any = None,
        default_inputs: Mapping[str, Any] | None = None,
    ) -> NativeInterface:
        """Build an interface for templates that wrap no function (SQL, containers, shell).

        ``inputs`` maps names to a type, or to ``(type, default marker)`` as the anchor's plugin
        authors write it (``inspect.Parameter.empty`` or ``NativeInterface.has_default``, the value
        then taken from ``default_inputs``). ``output`` is the return type, or a dict of named outputs
        (one entry: that type; several: a NamedTuple of them)."""
        given = dict(default_inputs or {})
        built: dict[str, tuple[Any, Any]] = {}
        for name, spec in inputs.items():
            if isinstance(spec, tuple) and len(spec) == 2:
                typ, marker = spec
                if marker is cls.has_default:
                    if name not in given:
                        raise ValueError(
                            f"Input {name!r} is declared with a default (NativeInterface.has_default) "
                            f"but default_inputs has no value for it; pass default_inputs={{{name!r}: ...}}."
                        )
                    built[name] = (typ, given[name])
                else:
                    built[name] = (typ, _MISSING if marker is _MISSING else marker)
            else:
                built[name] = (spec, given.get(name, _MISSING))
        if isinstance(output, Mapping):
            output = outputs_type("interface", output)
        return cls(inputs=built, output=output)

    @property
    def outputs(self) -> dict[str, Any]:
        """Named outputs as the anchor names them: ``o0`` for a single value, field names of a
        NamedTuple return, ``{}`` for none."""
        out = self.output
        if out is None:
            return {}
        fields = getattr(out, "__annotations__", None) if hasattr(out, "_fields") else None
        if fields:
            return dict(fields)
        return {"o0": out}

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.inputs)

    def bind(
        self, task_name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], *, direct: bool = False
    ) -> dict[str, Any]:
        """Map positional and keyword arguments to input names, filling defaults.

        A run or a child call rejects a bad argument list with ValueError (as the anchor does);
        a plain ``direct`` call outside any run raises TypeError, like calling the function.
        """
        names = self.inputs
        if not kwargs and len(args) == len(names):  # every input given by position: nothing to check
            return dict(zip(names, args))
        err: type[Exception] = TypeError if direct else ValueError
        if len(args) > len(names):
            raise err(f"Task {task_name!r} takes {len(names)} inputs but {len(args)} were given")
        bound: dict[str, Any] = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise err(f"Task {task_name!r} got an unexpected input {k!r}; its inputs are {list(names)}")
            if k in bound:
                raise err(f"Task {task_name!r} got multiple values for input {k!r}")
            bound[k] = v
        if len(bound) != len(names):
            for k, (_, default) in names.items():
                if k not in bound:
                    if default is _MISSING:
                        raise err(f"Task {task_name!r} is missing required input {k!r}")
                    bound[k] = default
        return bound

    def type_repr(self) -> str:
        """A stable text form of the types, used in the task's identity hash."""
        parts = [f"{k}:{_type_name(t)}" for k, (t, _) in self.inputs.items()]
        return "(" + ",".join(parts) + ")->" + _type_name(self.output)


def _type_name(t: Any) -> str:
    if t is None:
        return "None"
    if isinstance(t, type):
        return f"{_module_name(t.__module__)}.{t.__qualname__}"
    return _MAIN_RE.sub(lambda _: _module_name("__main__") + ".", repr(t))


_MAIN_RE = re.compile(r"\b__main__\.")


def _module_name(module: str) -> str:
    """A script's types are ``__main__.X`` under ``python app.py`` but ``app.X`` under ``flyte run``:
    name them after the file so both give the same task identity (and so the same action IDs)."""
    if module != "__main__":
        return module
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.splitext(os.path.basename(main_file))[0] if main_file else module


_output_types: dict[tuple[Any, ...], Any] = {}


def outputs_type(task_name: str, outputs: Mapping[str, Any]) -> Any:
    """A task's return type from named outputs (container, shell tasks): ``None`` for none, the type of
    a single output, else a NamedTuple of all of them (cached, so the same task gets the same class)."""
    if not outputs:
        return None
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    key = (task_name, *outputs.items())
    cached = _output_types.get(key)
    if cached is None:
        ident = "".join(ch if ch.isalnum() else "_" for ch in task_name)
        cached = typing.NamedTuple(f"{ident}_outputs", list(outputs.items()))  # type: ignore[misc,no-redef]
        _output_types[key] = cached
    return cached
