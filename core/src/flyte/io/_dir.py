"""``flyte.io.Dir``: a reference to a directory in the object store (or on this machine)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flyte._runtime.store import uri_to_path
from flyte.io import _common as c
from flyte.io._file import File

T = TypeVar("T")


@dataclass
class Dir(Generic[T]):
    """A directory passed by reference; ``hash`` is its content hash or a user-given cache key."""

    path: str
    name: str | None = None
    format: str = ""
    hash: str | None = None

    def content_key(self) -> str:
        return self.hash or self.path

    @classmethod
    def from_local_sync(
        cls,
        local_path: str | os.PathLike[str],
        remote_destination: str | None = None,
        dir_cache_key: str | None = None,
    ) -> Dir[T]:
        """Reference a local directory; inside a run it is copied into the run's store first."""
        local = os.fspath(local_path)
        if not os.path.isdir(local):
            raise NotADirectoryError(f"Dir.from_local: {local!r} is not a directory")
        name = os.path.basename(os.path.abspath(local))
        key = dir_cache_key or c.dir_sha256(local)
        prefix = c.upload_prefix()
        dest = remote_destination or (c.new_uri(prefix, name) if prefix else None)
        if dest is None:
            return cls(path=os.path.abspath(local), name=name, hash=key)
        return cls(path=c.current_store(dest).put_file(local, dest), name=name, hash=key)

    @classmethod
    async def from_local(
        cls,
        local_path: str | os.PathLike[str],
        remote_destination: str | None = None,
        dir_cache_key: str | None = None,
    ) -> Dir[T]:
        return await asyncio.to_thread(cls.from_local_sync, local_path, remote_destination, dir_cache_key)

    @classmethod
    def from_existing_remote(cls, remote_path: str, dir_cache_key: str | None = None) -> Dir[T]:
        return cls(path=remote_path, name=os.path.basename(remote_path.rstrip("/")), hash=dir_cache_key)

    def download_sync(self, local_path: str | os.PathLike[str] | None = None) -> str:
        if not c.is_remote(self.path) and local_path is None:
            return uri_to_path(self.path)
        dest = os.fspath(local_path) if local_path is not None else c.scratch_path(self.name or "dir")
        return c.current_store(self.path).get_file(self.path, dest)

    async def download(self, local_path: str | os.PathLike[str] | None = None) -> str:
        return await asyncio.to_thread(self.download_sync, local_path)

    def walk_sync(self, recursive: bool = True, max_depth: int | None = None) -> Iterator[File[Any]]:
        root = self.download_sync()
        for dirpath, dirs, files in os.walk(root):
            depth = os.path.relpath(dirpath, root).count(os.sep) + (0 if dirpath == root else 1)
            dirs.sort()
            for name in sorted(files):
                yield File(path=os.path.join(dirpath, name), name=name)
            if not recursive or (max_depth is not None and depth + 1 >= max_depth):
                dirs.clear()

    async def walk(self, recursive: bool = True, max_depth: int | None = None) -> AsyncIterator[File[Any]]:
        for f in await asyncio.to_thread(lambda: list(self.walk_sync(recursive, max_depth))):
            yield f

    def list_files_sync(self) -> list[File[Any]]:
        return list(self.walk_sync(recursive=False))

    async def list_files(self) -> list[File[Any]]:
        return await asyncio.to_thread(self.list_files_sync)

    def exists_sync(self) -> bool:
        return c.current_store(self.path).exists(self.path)

    async def exists(self) -> bool:
        return await asyncio.to_thread(self.exists_sync)

    def _local(self) -> str:
        return uri_to_path(self.path)
