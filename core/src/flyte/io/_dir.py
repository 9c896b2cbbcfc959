"""``flyte.io.Dir``: a reference to a directory in the object store (or on this machine).

Like ``File``, only the reference travels between tasks; ``hash`` is a content hash of relative
names and file contents (or a user key), so the same tree hits the cache from any location.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flyte.io import _common as c
from flyte.io._file import File

T = TypeVar("T")

EMPTY_DIR_PATH = "::flyte-empty-dir::"
# A walk with recursive=False goes this many levels down (the anchor walks fsspec maxdepth=2 there).
_SHALLOW_DEPTH = 2
"""The path of the sentinel ``Dir`` meaning "no directory was produced" (see :class:`EmptyDir`)."""


@dataclass
class Dir(Generic[T]):
    """A directory passed by reference; made by ``from_local``, ``new_remote`` or ``from_existing_remote``."""

    path: str
    name: str | None = None
    format: str = ""
    hash: str | None = None

    def __post_init__(self) -> None:
        from flyte._validate import check_path, check_str

        check_path("Dir", "path", self.path)
        self.path = os.fspath(self.path)
        check_str("Dir", "name", self.name, optional=True)
        check_str("Dir", "format", self.format)
        check_str("Dir", "hash", self.hash, optional=True, nonempty=True)
        if self.name is None:
            self.name = "" if self.path == EMPTY_DIR_PATH else c.base_name(self.path)

    def content_key(self) -> str:
        return self.hash or self.path

    @property
    def is_empty(self) -> bool:
        """True for the "no directory" sentinel (``EmptyDir()`` / ``Dir.empty()``)."""
        return self.path == EMPTY_DIR_PATH

    @classmethod
    def empty(cls) -> Dir[Any]:
        return EmptyDir()

    # ---- creating ----------------------------------------------------------------------------
    @classmethod
    def from_local_sync(
        cls,
        local_path: str | os.PathLike[str],
        remote_destination: str | None = None,
        dir_cache_key: str | None = None,
        batch_size: int | None = None,
        chunk_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> Dir[T]:
        """Reference a local directory; inside a run it is copied into the run's store first.

        Symbolic links pointing outside the directory are refused (``UnsafeSymlinkError``), so
        nothing from elsewhere on the machine is uploaded. The transfer-tuning parameters are
        accepted for the anchor's signature; the store plugin picks its own.
        """
        c.check_transfer_args(
            "Dir.from_local",
            local_path,
            remote_destination,
            batch_size=batch_size,
            chunk_size=chunk_size,
            max_concurrency=max_concurrency,
        )
        from flyte._validate import check_str

        check_str("Dir.from_local", "dir_cache_key", dir_cache_key, optional=True, nonempty=True)
        local = os.fspath(local_path)
        if not os.path.isdir(local):
            what = "is a file (use File.from_local)" if os.path.isfile(local) else "does not exist"
            raise c.PathNotFoundError(f"Dir.from_local: local_path {local!r} {what}")
        c.check_links_inside(local)
        name = os.path.basename(os.path.abspath(local))
        key = dir_cache_key or c.dir_sha256(local)
        prefix = c.upload_prefix()
        dest = remote_destination or (c.new_uri(prefix, name) if prefix else None)
        if dest is None:
            return cls(path=os.path.abspath(local), name=name, hash=key)
        return cls(path=c.plain(c.current_store(dest).put_file(local, dest)), name=name, hash=key)

    @classmethod
    async def from_local(
        cls,
        local_path: str | os.PathLike[str],
        remote_destination: str | None = None,
        dir_cache_key: str | None = None,
        batch_size: int | None = None,
        chunk_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> Dir[T]:
        """Async form of :meth:`from_local_sync`."""
        return await asyncio.to_thread(cls.from_local_sync, local_path, remote_destination, dir_cache_key)

    @classmethod
    def from_existing_remote(cls, remote_path: str, dir_cache_key: str | None = None) -> Dir[T]:
        """Reference a directory already in a store; ``dir_cache_key`` stands in for its content hash."""
        c.check_remote_ref(
            "Dir.from_existing_remote", "remote_path", remote_path, "dir_cache_key", dir_cache_key
        )
        return cls(path=remote_path, hash=dir_cache_key)

    @classmethod
    def new_remote(cls, dir_name: str | None = None, hash: str | None = None) -> Dir[T]:
        """A fresh location in the run's store (a temporary directory outside a run) to fill.

        Write files under it with ``File(path=f"{d.path}/name").open("wb")`` or upload a tree with
        ``Dir.from_local(src, remote_destination=d.path)``.
        """
        c.check_new_name("Dir.new_remote", "dir_name", dir_name)
        from flyte._validate import check_str

        check_str("Dir.new_remote", "hash", hash, optional=True, nonempty=True)
        prefix = c.upload_prefix()
        name = dir_name or f"dir-{os.urandom(6).hex()}"
        if prefix:
            return cls(path=c.plain(c.new_uri(prefix, name)), name=name, hash=hash)
        path = c.scratch_path(name)
        os.makedirs(path, exist_ok=True)
        return cls(path=path, name=name, hash=hash)

    # ---- reading -----------------------------------------------------------------------------
    def _require(self) -> None:
        if self.is_empty:
            raise c.PathNotFoundError("Dir is the empty sentinel (EmptyDir): no directory was produced")
        if not self.exists_sync():
            raise c.PathNotFoundError(f"Dir {self.path!r} does not exist")

    def download_sync(self, local_path: str | os.PathLike[str] | None = None) -> str:
        """Copy the directory to ``local_path`` (its contents go into it) and return that path.

        A directory already on this machine is not copied when no path is asked for.
        """
        self._require()
        if local_path is None:
            if not c.is_remote(self.path):
                return c.local_path(self.path)
            dest = c.scratch_path(self.name or "dir")
        else:
            dest = os.path.abspath(os.fspath(local_path))
        return c.current_store(self.path).get_file(self.path, dest)

    async def download(self, local_path: str | os.PathLike[str] | None = None) -> str:
        """Async form of :meth:`download_sync`."""
        return await asyncio.to_thread(self.download_sync, local_path)

    def walk_sync(
        self, recursive: bool = True, file_pattern: str = "*", max_depth: int | None = None
    ) -> Iterator[File[T]]:
        """Files under the directory, in name order (subdirectories to ``max_depth`` levels).

        ``recursive=False`` lists the top level and its immediate subfolders (two levels, which is
        what the anchor's users get from it); ``file_pattern`` is a glob on the file name.
        A directory that does not exist raises ``FileNotFoundError`` (never an empty listing).
        """
        self._require()
        if max_depth is not None and max_depth < 1:
            from flyte.errors import InvalidParameterError

            raise InvalidParameterError(
                "Dir.walk", "max_depth", max_depth, "A depth of 1 or more (1: top level)"
            )
        depth_limit = _SHALLOW_DEPTH if not recursive else max_depth
        listed = self._list_remote()
        if listed is not None:
            for rel, uri in listed:
                if depth_limit is not None and rel.count("/") >= depth_limit:
                    continue
                name = rel.rsplit("/", 1)[-1]
                if fnmatch.fnmatch(name, file_pattern):
                    yield File(path=uri, name=name)
            return
        root = self.download_sync()
        for dirpath, dirs, files in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            depth = 0 if rel == "." else rel.count(os.sep) + 1
            dirs.sort()
            for name in sorted(files):
                if fnmatch.fnmatch(name, file_pattern):
                    yield File(path=os.path.join(dirpath, name), name=name)
            if depth_limit is not None and depth + 1 >= depth_limit:
                dirs.clear()

    def _list_remote(self) -> list[tuple[str, str]] | None:
        """``(relative name, uri)`` of the objects under a remote directory, or None to download instead."""
        if not c.is_remote(self.path):
            return None
        lister = getattr(c.current_store(self.path), "list", None)
        if lister is None:
            return None
        base = self.path.rstrip("/") + "/"
        out = []
        for uri in lister(self.path):
            if uri.startswith(base) and not uri.endswith("/"):
                out.append((uri[len(base) :], uri))
        return sorted(out)

    async def walk(
        self, recursive: bool = True, max_depth: int | None = None, file_pattern: str = "*"
    ) -> AsyncIterator[File[T]]:
        """Async form of :meth:`walk_sync` (an async generator of ``File``)."""
        files = await asyncio.to_thread(lambda: list(self.walk_sync(recursive, file_pattern, max_depth)))
        for f in files:
            yield f

    def list_files_sync(self) -> list[File[T]]:
        """The files of a shallow walk: the top level and its immediate subfolders."""
        return list(self.walk_sync(recursive=False))

    async def list_files(self) -> list[File[T]]:
        return await asyncio.to_thread(self.list_files_sync)

    def get_file_sync(self, file_name: str) -> File[T] | None:
        """The file ``file_name`` (a relative path) in this directory, or None when there is none."""
        parts = file_name.replace(os.sep, "/").split("/")
        if not file_name or file_name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            from flyte.errors import InvalidParameterError

            raise InvalidParameterError(
                "Dir.get_file", "file_name", file_name, "A relative name inside the directory (no '..')"
            )
        if c.is_remote(self.path) or self.path.startswith("file://"):
            path = self.path.rstrip("/") + "/" + "/".join(parts)
        else:
            path = os.path.join(self.path, *parts)
        f: File[T] = File(path=path)
        return f if f.exists_sync() else None

    async def get_file(self, file_name: str) -> File[T] | None:
        return await asyncio.to_thread(self.get_file_sync, file_name)

    def exists_sync(self) -> bool:
        if self.is_empty:
            return False
        return c.current_store(self.path).exists(self.path)

    async def exists(self) -> bool:
        return await asyncio.to_thread(self.exists_sync)


class EmptyDir(Dir[Any]):
    """The "no directory was produced" value, for a ``Dir`` output a task may leave unset.

    It arrives downstream as a ``Dir`` whose ``is_empty`` is True; check that rather than the class.
    """

    def __init__(
        self, path: str = EMPTY_DIR_PATH, name: str | None = "", format: str = "", hash: str | None = None
    ):
        super().__init__(path=EMPTY_DIR_PATH, name=name if name is not None else "", format=format, hash=hash)
