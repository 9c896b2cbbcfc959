"""Checkpoints: state a task saves while it works so that a retried attempt resumes from it.

Inside a run, ``flyte.ctx().checkpoint`` is a :class:`Checkpoint` whose destination is an object in
the run's store for this action and attempt (``<run>/<action>/checkpoints/attempt-N``) and whose
source is the newest checkpoint an earlier attempt of the same action saved. A checkpoint is one
object: a saved directory is stored as a gzip tar, a file or ``bytes`` as they are.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import tarfile
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

PAYLOAD = "payload"


def latest_checkpoint(
    root: pathlib.Path,
    glob_pattern: str = "**/last.ckpt",
    *,
    key: Callable[[pathlib.Path], Any] | None = None,
) -> pathlib.Path | None:
    """The file under ``root`` matching ``glob_pattern`` that ranks highest by ``key`` (default:
    newest modification time), or None. Used to find e.g. Lightning's ``last.ckpt`` after a load."""
    base = pathlib.Path(root)
    matches = [p for p in base.glob(glob_pattern) if p.is_file()]
    if not matches:
        return None
    rank = key if key is not None else (lambda p: p.stat().st_mtime)
    return max(matches, key=rank)


class BaseCheckpoint(ABC):
    """What a checkpoint helper offers: a local workspace, the previous state, and saving new state."""

    @property
    @abstractmethod
    def path(self) -> pathlib.Path:
        """Local directory where loaded checkpoint files appear."""

    @abstractmethod
    def prev_exists(self) -> bool:
        """Whether an earlier attempt left a checkpoint to resume from."""

    @abstractmethod
    async def load(self) -> pathlib.Path | None: ...

    @abstractmethod
    async def save(self, data: pathlib.Path | str | bytes) -> None: ...

    @abstractmethod
    def load_sync(self) -> pathlib.Path | None: ...

    @abstractmethod
    def save_sync(self, data: pathlib.Path | str | bytes) -> None: ...


def _store(uri: str) -> Any:
    from flyte._runtime.store import store_for

    return store_for(uri)


def _local_path(uri: str) -> str | None:
    """A plain path or ``file://`` URI as a local path; None for other schemes."""
    if uri.startswith("file://"):
        from flyte._runtime.store import uri_to_path

        return uri_to_path(uri)
    return None if "://" in uri else uri


class Checkpoint(BaseCheckpoint):
    """Checkpoint I/O against one object URI (``checkpoint_dest``), resuming from ``checkpoint_src``."""

    def __init__(self, checkpoint_dest: str, checkpoint_src: str | None = None) -> None:
        from flyte._validate import check_str

        check_str("Checkpoint", "checkpoint_dest", checkpoint_dest, nonempty=True)
        check_str("Checkpoint", "checkpoint_src", checkpoint_src, optional=True)
        self._dest = checkpoint_dest
        src = checkpoint_src.strip().strip('"') if checkpoint_src else ""
        self._src: str | None = src or None
        self._workdir = tempfile.TemporaryDirectory(prefix="flyte-ckpt-")
        self._loaded: pathlib.Path | None = None
        self._did_load = False

    @property
    def remote_destination(self) -> str:
        return self._dest

    @property
    def remote_source(self) -> str | None:
        return self._src

    @property
    def path(self) -> pathlib.Path:
        return pathlib.Path(self._workdir.name)

    def prev_exists(self) -> bool:
        return self._src is not None

    # ---- load ------------------------------------------------------------------------------------
    def _fetch(self, uri: str, target: str) -> bool:
        local = _local_path(uri)
        if local is not None:
            if not os.path.isfile(local):
                return False
            shutil.copyfile(local, target)
            return True
        store = _store(uri)
        if not store.exists(uri):
            return False
        store.get_file(uri, target)
        return True

    def load_sync(self) -> pathlib.Path | None:
        """Restore the previous attempt's checkpoint into ``path``; None when there is none.

        Returns ``path`` for a saved directory, ``path / "payload"`` for a saved file or bytes."""
        if self._did_load:
            return self._loaded
        self._did_load = True
        if self._src is None:
            return None
        fd, tmp = tempfile.mkstemp(prefix="flyte-ckpt-dl-")
        os.close(fd)
        try:
            if not self._fetch(self._src, tmp) or os.path.getsize(tmp) == 0:
                return None
            for child in self.path.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
            if tarfile.is_tarfile(tmp):
                with tarfile.open(tmp, "r:*") as tar:
                    tar.extractall(self.path, filter="data")
                self._loaded = self.path
            else:
                shutil.move(tmp, self.path / PAYLOAD)
                self._loaded = self.path / PAYLOAD
            return self._loaded
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    async def load(self) -> pathlib.Path | None:
        return await asyncio.to_thread(self.load_sync)

    # ---- save ------------------------------------------------------------------------------------
    def _put(self, local_file: str) -> None:
        local = _local_path(self._dest)
        if local is not None:
            os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
            tmp = f"{local}.tmp-{os.getpid()}"
            shutil.copyfile(local_file, tmp)
            os.replace(tmp, local)
            return
        _store(self._dest).put_file(local_file, self._dest)

    def save_sync(self, data: pathlib.Path | str | bytes) -> None:
        """Save ``data`` (a directory, a file, or bytes) as this attempt's checkpoint."""
        if isinstance(data, (bytes, bytearray)):
            fd, tmp = tempfile.mkstemp(prefix="flyte-ckpt-up-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        else:
            src = pathlib.Path(data)
            if not src.exists():
                raise FileNotFoundError(f"Checkpoint.save: {str(src)!r} does not exist")
            if src.is_file():
                self._put(str(src))
                return
            fd, tmp = tempfile.mkstemp(prefix="flyte-ckpt-tar-", suffix=".tar.gz")
            os.close(fd)
            with tarfile.open(tmp, "w:gz") as tar:
                for child in sorted(src.iterdir()):
                    tar.add(child, arcname=child.name)
        try:
            self._put(tmp)
        finally:
            os.unlink(tmp)

    async def save(self, data: pathlib.Path | str | bytes) -> None:
        await asyncio.to_thread(self.save_sync, data)


def checkpoint_for(run_prefix: str, action_id: str, attempt: int) -> Checkpoint:
    """The checkpoint of one attempt: saves under its own name, loads the newest one saved so far.

    Its own name counts too: a recovered run (``flyte rerun --recover``) numbers attempts from 0
    again in the same store, and must resume from what the failed run's attempt saved."""
    from flyte._runtime.store import join

    def uri(n: int) -> str:
        return join(run_prefix, action_id, "checkpoints", f"attempt-{n}")

    src = None
    for earlier in range(attempt, -1, -1):
        candidate = uri(earlier)
        local = _local_path(candidate)
        found = os.path.isfile(local) if local is not None else _store(candidate).exists(candidate)
        if found:
            src = candidate
            break
    return Checkpoint(uri(attempt), src)
