"""Shared plumbing for File and Dir: where to upload, and content hashing."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid

from flyte._runtime.store import ObjectStore, join, safe_name, store_for

CHUNK = 1024 * 1024


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


def new_uri(prefix: str, name: str) -> str:
    """A fresh location under the run's prefix; ``name`` (often from a value) stays one component."""
    return join(prefix, "offloaded", uuid.uuid4().hex[:16], safe_name(name))


def scratch_path(name: str) -> str:
    return os.path.join(tempfile.mkdtemp(prefix="flyte-"), safe_name(name))


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")
