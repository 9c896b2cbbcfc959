"""Helpers that task-type plugins share (exported by ``flyte.extend``).

Each was written more than once before: by the shell and container plugins (values as text, value
kinds, input/output names), by the container and pod plugins (a subprocess that dies with its
caller, cleanup that finishes despite cancellation) and by every plugin's package ``__init__`` (lazy
public names). Light at import (asyncio and json are imported by the helpers that use them), since a
plugin package's ``__init__`` uses ``lazy_exports`` and discovery imports it.
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

_SCALARS: dict[Any, str] = {int: "int", float: "float", str: "str", bool: "bool"}


def strip_optional(t: Any) -> tuple[Any, bool]:
    """(the type without ``None``, whether ``None`` was allowed): ``int | None`` -> ``(int, True)``."""
    origin = typing.get_origin(t)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if len(args) < len(typing.get_args(t)):
            return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), True  # noqa: UP007
    return t, False


def value_kind(t: Any) -> str:
    """How a value of type ``t`` is written to a file or a command line: ``"int"``, ``"float"``,
    ``"str"``, ``"bool"``, ``"file"`` (``flyte.io.File``), ``"dir"`` (``flyte.io.Dir``), else ``"json"``.
    ``Optional[T]`` is ``T``'s kind."""
    t, _ = strip_optional(t)
    if t in _SCALARS:
        return _SCALARS[t]
    base = typing.get_origin(t) or t
    if isinstance(base, type):
        from flyte.io import Dir, File

        if issubclass(base, File):
            return "file"
        if issubclass(base, Dir):
            return "dir"
    return "json"


def as_text(value: Any) -> str:
    """A value as the text a script or container reads: ``None`` is empty, booleans are
    ``true``/``false``, str/int/float as they print, anything else canonical JSON (sorted keys)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    import json

    from pydantic_core import to_jsonable_python

    return json.dumps(to_jsonable_python(value), sort_keys=True)


def parse_scalar_text(kind: str, text: str) -> Any:
    """An output written as text by a script or container: ``kind`` is "str", "int", "float" or
    "bool" (true/false, 1/0, yes/no, on/off). Raises ``ValueError`` naming the bad value."""
    value = text.strip()
    if kind == "str":
        return text[:-1] if text.endswith("\n") else text
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "y", "on"):
        return True
    if lowered in ("false", "0", "no", "n", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false, 1/0, yes/no)")


def check_io_names(owner: str, what: str, value: Any) -> dict[str, Any]:
    """``value`` (a task's ``inputs=``/``outputs=``) as a dict of name -> type; raises ``ValueError``
    naming ``owner`` and the fix when it is not a mapping or a name is not a Python identifier (names
    become keyword arguments and placeholders)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{owner}: {what} must be a dict of name to type, e.g. {{'n': int}}; got {value!r}")
    for name in value:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{owner}: {what} name {name!r} must be a Python identifier")
    return dict(value)


async def finish_shielded(aw: Awaitable[Any]) -> Any:
    """Await ``aw`` to its end even if the caller is cancelled meanwhile (cleanup: removing a
    container must not be cut short by the cancellation that asked for it); re-raise that
    cancellation afterwards."""
    import asyncio

    task = asyncio.ensure_future(aw)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() and task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()


async def run_command(
    *args: str,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = False,
) -> tuple[int, str, str]:
    """Run a command to its end: (exit code, stdout, stderr) as text (stderr is "" with
    ``merge_stderr``). The process is killed and reaped when the caller is cancelled or ``timeout``
    seconds pass (then ``TimeoutError``), so a cancelled action leaves no ``podman`` behind."""
    import asyncio

    proc: asyncio.subprocess.Process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else None,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await asyncio.shield(proc.wait())
        raise
    return (
        proc.returncode or 0,
        out.decode("utf-8", errors="replace"),
        (err or b"").decode("utf-8", errors="replace"),
    )


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package + "." + where[name]`` when ``name`` is first
    used, so that importing the package (as plugin discovery does) stays cheap::

        __getattr__ = lazy_exports(__name__, {"ShellTask": "_task"})
    """

    def __getattr__(name: str) -> Any:
        sub = where.get(name)
        if sub is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{sub}"), name)

    return __getattr__
