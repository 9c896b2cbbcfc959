"""Task inputs from the command line: one option per input, parsed by its type hint."""

from __future__ import annotations

import inspect
import json
from typing import Any

import click

_SIMPLE: dict[Any, Any] = {int: click.INT, float: click.FLOAT, str: click.STRING}


class JsonValue(click.ParamType):  # type: ignore[type-arg]
    """A JSON (or bare string) value validated against the input's type hint."""

    name = "json"

    def __init__(self, hint: Any, input_name: str) -> None:
        self.hint = hint
        self.input_name = input_name

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
            self.fail(
                f"{value!r} is not a valid {self.hint!r} for --{self.input_name}: {first['msg']}", param, ctx
            )


def task_options(interface: Any) -> list[click.Parameter]:
    options: list[click.Parameter] = []
    for name, (hint, default) in interface.inputs.items():
        flag = "--" + name.replace("_", "-")
        required = default is inspect.Parameter.empty
        kwargs: dict[str, Any] = {"required": required, "show_default": not required}
        if not required:
            kwargs["default"] = default
        if hint is bool:
            options.append(click.Option([f"{flag}/--no-{name.replace('_', '-')}", name], **kwargs))
            continue
        ptype = _SIMPLE.get(hint) or JsonValue(hint, name)
        options.append(click.Option([flag, name], type=ptype, help=f"{_hint_name(hint)}", **kwargs))
    return options


def _hint_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else repr(hint)
