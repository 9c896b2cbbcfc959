"""``flyte.io.File``: a reference to a file in the object store (or on this machine)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import IO, Any, Generic, TypeVar

from flyte._runtime.store import uri_to_path
from flyte.io import _common as c

T = TypeVar("T")


@dataclass
class File(Generic[T]):
    """A file passed by reference. ``hash`` (content SHA-256 or a user key) is what cache keys use."""

    path: str
    name: str | None = None
    format: str = ""
    hash: str | None = None

    def content_key(self) -> str:
        return self.hash or self.path

    # ---- creating ----------------------------------------------------------------------------
    @classmethod
    def from_local_sync(
        cls,
        local_path: str | os.PathLike[str],
        remote_destination: str | None = None,
        hash_method: Any = None,
    ) -> File[T]:
        """Reference a local file; inside a run it is copied into the run's store first."""
        local = os.fspath(local_path)
        if not os.path.isfile(local):
            raise FileNotFoundError(f"File.from_local: {local!r} is not a file")
        name = os.path.basename(local)
        digest = hash_method if isinstance(hash_method, str) else c.file_sha256(local)
        prefix = c.upload_prefix()
        dest = remote_destination or (c.new_uri(prefix, name) if prefix else None)
        if dest is None:
            return cls(path=os.path.abspath(local), name=name, hash=digest)
        uri = c.current_store(dest).put_file(local, dest)
        return cls(path=uri, name=name, hash=digest)

    @classmethod
    async def from_local(
        cls,
        local_path: str | os.PathLike[str],
        remote_destination: str | None = None,
        hash_method: Any = None,
    ) -> File[T]:
        return await asyncio.to_thread(cls.from_local_sync, local_path, remote_destination, hash_method)

    @classmethod
    def from_existing_remote(cls, remote_path: str, file_cache_key: str | None = None) -> File[T]:
        """Reference a file already in a store; ``file_cache_key`` stands in for its content hash."""
        return cls(path=remote_path, name=os.path.basename(remote_path.rstrip("/")), hash=file_cache_key)

    @classmethod
    def new_remote(cls, file_name: str | None = None, hash_method: Any = None) -> File[T]:
        """A new file in the run's store, to be written with ``open('wb')``."""
        prefix = c.upload_prefix()
        name = file_name or "file"
        path = c.new_uri(prefix, name) if prefix else c.scratch_path(name)
        return cls(path=path, name=name)

    # ---- reading -----------------------------------------------------------------------------
    def download_sync(self, local_path: str | os.PathLike[str] | None = None) -> str:
        """Copy the file to a local path (a temporary one by default) and return that path."""
        if not c.is_remote(self.path) and local_path is None:
            return uri_to_path(self.path)
        dest = os.fspath(local_path) if local_path is not None else c.scratch_path(self.name or "file")
        return c.current_store(self.path).get_file(self.path, dest)

    async def download(self, local_path: str | os.PathLike[str] | None = None) -> str:
        return await asyncio.to_thread(self.download_sync, local_path)

    @contextmanager
    def open_sync(self, mode: str = "rb") -> Iterator[IO[Any]]:
        """Open for reading, or for writing a file made with ``new_remote``."""
        if any(m in mode for m in "wa"):
            if c.is_remote(self.path):
                tmp = c.scratch_path(self.name or "file")
                with open(tmp, mode) as f:
                    yield f
                c.current_store(self.path).put_file(tmp, self.path)
            else:
                local = uri_to_path(self.path)
                os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
                with open(local, mode) as f:
                    yield f
            self.hash = c.file_sha256(self.download_sync())
            return
        with open(self.download_sync(), mode) as f:
            yield f

    @asynccontextmanager
    async def open(self, mode: str = "rb", **_: Any) -> AsyncIterator[IO[Any]]:
        with self.open_sync(mode) as f:
            yield f

    def exists_sync(self) -> bool:
        return c.current_store(self.path).exists(self.path)

    async def exists(self) -> bool:
        return await asyncio.to_thread(self.exists_sync)
