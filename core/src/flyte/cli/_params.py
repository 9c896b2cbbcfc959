"""Task inputs from the command line: one option per input, parsed by its type hint.

Scalars are plain values (``--x 3``), ``File``/``Dir`` a local path or a URI (``--f ./data.csv``),
everything else JSON validated against the hint (``--items '[1, 2]'``, ``--cfg '{"lr": 0.1}'``).
A bad value fails with the input's name, the field that is wrong and what was expected.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import types
import typing
from typing import Any

import click

_SIMPLE: dict[Any, Any] = {int: click.INT, float: click.FLOAT, str: click.STRING}


def type_name(hint: Any) -> str:
    """A short, readable name for a type hint: ``list[int]``, ``Cfg | None`` (no module paths)."""
    if hint is None or hint is type(None):
        return "None"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin is not None:
        base = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        return f"{base}[{', '.join(type_name(a) for a in args)}]" if args else base
    if isinstance(hint, type):
        return hint.__name__
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", str(hint))


def _optional_inner(hint: Any) -> Any:
    """``X`` for ``X | None`` / ``Optional[X]``; the hint itself otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _io_kind(hint: Any) -> str | None:
    """ "file" or "dir" for ``flyte.io.File`` / ``Dir`` (also parametrised or optional), else None."""
    from flyte.io import Dir, File

    inner = _optional_inner(hint)
    cls = typing.get_origin(inner) or inner
    if isinstance(cls, type):
        if issubclass(cls, File):
            return "file"
        if issubclass(cls, Dir):
            return "dir"
    return None


class PathOrUri(click.ParamType):  # type: ignore[type-arg]
    """``File``/``Dir`` input: an existing local path (or ``file://`` URI), or a store URI as is."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = "path"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "FILE" if self.kind == "file" else "DIR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        from flyte.io import Dir, File

        if "://" in value and not value.startswith("file://"):
            if self.kind == "file":
                return File.from_existing_remote(value)
            return Dir.from_existing_remote(value)
        local = value[len("file://") :] if value.startswith("file://") else value
        local = os.path.expanduser(local)
        if self.kind == "file":
            if not os.path.isfile(local):
                what = "is a folder, not a file" if os.path.isdir(local) else "does not exist"
                self.fail(f"{value!r} {what}; give an existing file path or a URI such as s3://bucket/key")
            return File.from_local_sync(local)
        if not os.path.isdir(local):
            what = "is a file, not a folder" if os.path.isfile(local) else "does not exist"
            self.fail(f"{value!r} {what}; give an existing folder or a URI such as s3://bucket/prefix/")
        return Dir.from_local_sync(local)


class JsonValue(click.ParamType):  # type: ignore[type-arg]
    """A JSON (or bare string) value validated against the input's type hint."""

    name = "json"

    def __init__(self, hint: Any, input_name: str) -> None:
        self.hint = hint
        self.input_name = input_name

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        from pydantic import TypeAdapter, ValidationError

        try:
            raw = json.loads(value)
        except json.JSONDecodeError:
            raw = value
        try:
            return TypeAdapter(self.hint).validate_python(raw)
        except ValidationError as e:
            first = e.errors()[0]
            where = _loc(first.get("loc", ()))
            field = f"field {where!r}: " if where else ""
            msg = str(first.get("msg", "invalid value"))
            self.fail(f"{field}{msg} (expected {describe(self.hint)}; got {value!r})", param, ctx)


def _loc(loc: Any) -> str:
    """``('inner', 'lr')`` -> ``inner.lr``; ``(0, 'x')`` -> ``[0].x``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def describe(hint: Any) -> str:
    """What a JSON input should look like: the type, and an object's fields with their types."""
    inner = _optional_inner(hint)
    fields: list[str] = []
    if dataclasses.is_dataclass(inner) and isinstance(inner, type):
        hints = typing.get_type_hints(inner)
        fields = [f"{f.name}: {type_name(hints.get(f.name, f.type))}" for f in dataclasses.fields(inner)]
    elif isinstance(inner, type) and hasattr(inner, "model_fields"):
        fields = [f"{k}: {type_name(f.annotation)}" for k, f in inner.model_fields.items()]
    if fields:
        return f"a JSON object {type_name(inner)} {{{', '.join(fields)}}}"
    return f"JSON for {type_name(hint)}"


def _show_default(default: Any) -> str:
    try:
        return json.dumps(default)
    except TypeError:
        return repr(default)


def task_options(interface: Any) -> list[click.Parameter]:
    """One option per task input; the metavar says the kind of value, the help anything more."""
    options: list[click.Parameter] = []
    for name, (hint, default) in interface.inputs.items():
        flag = "--" + name.replace("_", "-")
        required = default is inspect.Parameter.empty
        kwargs: dict[str, Any] = {"required": required}
        if not required:
            kwargs["default"] = default
            kwargs["show_default"] = default is not None and (hint is bool or hint in _SIMPLE)
        if hint is bool:
            options.append(click.Option([f"{flag}/--no-{name.replace('_', '-')}", name], **kwargs))
            continue
        kind = _io_kind(hint)
        ptype: Any
        if kind is not None:
            ptype = PathOrUri(kind)
            help_text = "a local path or a URI" if kind == "file" else "a local folder or a URI"
        elif _optional_inner(hint) in _SIMPLE:
            ptype = _SIMPLE[_optional_inner(hint)]
            help_text = ""
        else:
            ptype = JsonValue(hint, name)
            help_text = type_name(_optional_inner(hint))
            inner = _optional_inner(hint)
            if isinstance(inner, type) and (
                dataclasses.is_dataclass(inner) or hasattr(inner, "model_fields")
            ):
                help_text = describe(hint).removeprefix("a JSON object ")
        if not required and default is not None and not kwargs["show_default"]:
            help_text = f"{help_text}  [default: {_show_default(default)}]".strip()
        options.append(click.Option([flag, name], type=ptype, help=help_text or None, **kwargs))
    return options
