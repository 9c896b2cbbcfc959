"""Shared plumbing for File and Dir: where to upload, content hashing, path checks."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from typing import Any

from flyte._runtime.store import ObjectStore, join, safe_name, store_for, uri_to_path
from flyte.errors import RuntimeDataValidationError, RuntimeUserError

CHUNK = 1024 * 1024


class PathNotFoundError(FileNotFoundError, ValueError):
    """A ``File``/``Dir`` path that does not exist (also a ``ValueError``, as the anchor raises)."""


class InputNotFoundError(RuntimeDataValidationError):
    """A task input (or a File/Dir inside it) names a path that does not exist."""

    def __init__(self, var: str, message: str, task_name: str = "") -> None:
        self.var = var
        self.task_name = task_name
        RuntimeUserError.__init__(self, "InputNotFoundError", f"Task {task_name!r}: input {var!r}: {message}")


class UnsafeSymlinkError(ValueError):
    """A directory holds a symbolic link to something outside it, which would leak into the store."""


def upload_prefix() -> str | None:
    """The current run's data prefix, or ``None`` outside a run (values then stay where they are)."""
    from flyte._context import current_action

    ac = current_action.get()
    return None if ac is None else ac.controller.run_prefix


def current_store(uri: str) -> ObjectStore:
    return store_for(uri)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def dir_sha256(path: str) -> str:
    """Hash of relative names and file contents, independent of where the directory lives."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            h.update(rel.encode() + b"\0" + file_sha256(full).encode() + b"\n")
    return h.hexdigest()


def check_links_inside(root: str) -> None:
    """Refuse a directory holding symbolic links that resolve outside it (or nowhere).

    Uploading follows links, so such a link would copy files from elsewhere on this machine (a
    home directory, ``/etc``) into the object store. Links that stay inside the directory are fine.
    """
    real_root = os.path.realpath(root)
    for dirpath, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                continue
            target = os.path.realpath(full)
            inside = target == real_root or target.startswith(real_root.rstrip(os.sep) + os.sep)
            if not inside or not os.path.exists(target):
                what = "outside the directory" if inside is False else "to nothing (a dangling link)"
                raise UnsafeSymlinkError(
                    f"Dir.from_local({root!r}): {os.path.relpath(full, root)!r} is a symbolic link pointing "
                    f"{what} ({os.readlink(full)!r}); only files inside the directory are uploaded. "
                    "Copy the target into the directory, or remove the link."
                )


def new_uri(prefix: str, name: str) -> str:
    """A fresh location under the run's prefix; ``name`` (often from a value) stays one component."""
    return join(prefix, "offloaded", uuid.uuid4().hex[:16], safe_name(name))


def scratch_path(name: str) -> str:
    return os.path.join(tempfile.mkdtemp(prefix="flyte-"), safe_name(name))


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    return uri_to_path(path)


def plain(uri: str) -> str:
    """A location as a ``File``/``Dir`` holds it: a plain path on this machine, else the store URI.

    The anchor's local values carry plain paths, so ``open(f.path)`` works on both SDKs.
    """
    return uri if is_remote(uri) else uri_to_path(uri)


def base_name(path: str) -> str:
    return os.path.basename(path.rstrip("/").rstrip(os.sep)) if path else ""


def missing_io(value: Any) -> list[tuple[str, str]]:
    """``(kind, path)`` of every File/Dir inside ``value`` whose path does not exist."""
    import dataclasses
    from collections.abc import Mapping

    from flyte.io._dir import Dir
    from flyte.io._file import File

    found: list[tuple[str, str]] = []

    def visit(v: Any) -> None:
        if v is None or type(v) in (str, int, float, bool, bytes):
            return
        if isinstance(v, Dir):
            if not v.is_empty and not v.exists_sync():
                found.append(("directory", v.path))
        elif isinstance(v, File):
            if not v.exists_sync():
                found.append(("file", v.path))
        elif isinstance(v, Mapping):
            for item in v.values():
                visit(item)
        elif isinstance(v, (list, tuple, set, frozenset)):
            for item in v:
                visit(item)
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            for f in dataclasses.fields(v):
                visit(getattr(v, f.name, None))
        elif isinstance(getattr(type(v), "model_fields", None), dict):
            for k in type(v).model_fields:
                visit(getattr(v, k, None))

    visit(value)
    return found


def check_inputs_exist(task_name: str, values: dict[str, Any]) -> None:
    """Fail before anything runs when a File/Dir input points at nothing (never read it as empty)."""
    for var, value in values.items():
        missing = missing_io(value)
        if missing:
            kind, path = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise InputNotFoundError(
                var,
                f"the {kind} {path!r} does not exist{more}. Pass an existing path, or create the value with "
                f"{'Dir' if kind == 'directory' else 'File'}.from_local(...) from data that exists.",
                task_name,
            )


def check_transfer_args(owner: str, local_path: Any, remote_destination: Any, **sizes: Any) -> None:
    """``from_local`` arguments: a path, an optional destination URI and positive transfer sizes (which
    our stores do not need, but a wrong one is still a mistake worth naming)."""
    from flyte._validate import check_number, check_path, check_str

    check_path(owner, "local_path", local_path)
    check_str(owner, "remote_destination", remote_destination, optional=True, nonempty=True)
    for param, value in sizes.items():
        check_number(owner, param, value, optional=True, integer=True, positive=True)


def check_new_name(owner: str, param: str, name: Any) -> None:
    """A ``new_remote`` name: a relative name that stays inside the run's store prefix."""
    from flyte._validate import check_str
    from flyte.errors import InvalidParameterError

    check_str(owner, param, name, optional=True, nonempty=True)
    if name is not None and (name.startswith("/") or ".." in name.split("/")):
        raise InvalidParameterError(owner, param, name, "Use a relative name without '..', e.g. 'out.csv'.")


def check_remote_ref(owner: str, path_param: str, path: Any, key_param: str, key: Any) -> None:
    """``from_existing_remote``: a non-empty path and an optional non-empty cache key."""
    from flyte._validate import check_str

    check_str(owner, path_param, path, nonempty=True, fix="Pass the file's URI, e.g. 's3://bucket/key'.")
    check_str(owner, key_param, key, optional=True, nonempty=True)
