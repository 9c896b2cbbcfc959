"""``TaskEnvironment(include=...)``: extra files that belong to the environment's code.

Entries are files, directories (walked recursively) or glob patterns; relative entries are resolved
against the directory of the file that declared the environment, so the same definition means the
same files whatever the working directory. The files' contents are part of each task's code version:
editing an included template or config file gives the task a new version (and a new 'auto' cache
version), as editing its source does.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flyte.errors import InvalidParameterError, InvalidParameterTypeError

__all__ = ["declaring_dir", "include_digest", "include_files", "normalize_include"]

# Never part of a code bundle: byte code, VCS data and virtual environments.
_SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".venv", "venv", ".mypy_cache", ".pytest_cache"})


def declaring_dir() -> str | None:
    """The directory of the first file up the stack outside flyte (the environment's declaring file)."""
    frame: Any = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        filename = frame.f_code.co_filename
        if not (name == "flyte" or name.startswith(("flyte.", "dataclasses"))) and os.path.isfile(filename):
            return str(os.path.dirname(os.path.abspath(filename)))
        frame = frame.f_back
    return None


def normalize_include(value: Any, owner: str) -> tuple[str, ...]:
    """``include`` as a tuple of path strings (a bare string is refused, as in the anchor SDK)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes, os.PathLike)):
        raise InvalidParameterTypeError(
            owner,
            "include",
            value,
            "Expected include to be a sequence of str paths, got a bare str: use include=('file.txt',).",
        )
    try:
        items = tuple(value)
    except TypeError:
        raise InvalidParameterTypeError(
            owner, "include", value, "Expected include to be a sequence of str paths, e.g. ('templates/',)."
        ) from None
    for item in items:
        if not isinstance(item, str) or not item:
            raise InvalidParameterTypeError(
                owner, "include", value, f"include entries must be str paths, got {item!r}."
            )
    return items


def _resolve(entry: str, base: str | None) -> str:
    path = os.path.expanduser(entry)
    if not os.path.isabs(path):
        path = os.path.join(base or os.getcwd(), path)
    return os.path.normpath(path)


def _walk(directory: str) -> Iterable[str]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for f in sorted(files):
            if not f.endswith((".pyc", ".pyo")):
                yield os.path.join(root, f)


def include_files(entries: tuple[str, ...], base: str | None, owner: str) -> list[str]:
    """The absolute paths of the files ``entries`` name, sorted; an entry matching nothing is an error."""
    found: set[str] = set()
    for entry in entries:
        path = _resolve(entry, base)
        if os.path.isdir(path):
            found.update(_walk(path))
        elif os.path.isfile(path):
            found.add(path)
        else:
            matched = [m for m in glob.glob(path, recursive=True) if os.path.isfile(m)]
            if not matched:
                raise InvalidParameterError(
                    owner,
                    "include",
                    entry,
                    f"include path {entry!r} is not a file, directory, or matching glob pattern "
                    f"(resolved to {path}; relative paths start at the declaring file's directory).",
                )
            found.update(os.path.normpath(m) for m in matched)
    return sorted(found)


def include_digest(entries: tuple[str, ...], base: str | None, owner: str) -> str:
    """A hash of the included files' names (relative to ``base``) and contents; ``""`` when none."""
    if not entries:
        return ""
    h = hashlib.sha256()
    for path in include_files(entries, base, owner):
        rel = os.path.relpath(path, base) if base else path
        h.update(Path(rel).as_posix().encode())
        h.update(b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()
