"""``flyte.io.File``: a reference to a file in the object store (or on this machine).

The value that travels between tasks is small (path, name, format, hash); the bytes stay in the
store. ``hash`` is the content's SHA-256 unless the user gave a key or hash method, so the same
content hits the cache from any path. Every I/O method has an async form and a ``_sync`` twin.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import IO, Any, Generic, TypeVar

from flyte.io import _common as c
from flyte.io._hashing import HashMethod, check_hash_method, feed, file_chunks

T = TypeVar("T")

_WRITE_MODES = ("w", "a", "x", "+")


@dataclass
class File(Generic[T]):
    """A file passed by reference; build it with ``from_local``, ``new_remote`` or ``from_existing_remote``.

    ``File(path=...)`` references a file that already exists; ``name`` defaults to the path's last part.
    """

    path: str
    name: str | None = None
    format: str = ""
    hash: str | None = None

    def __post_init__(self) -> None:
        from flyte._validate import check_path, check_str

        check_path("File", "path", self.path)
        self.path = os.fspath(self.path)
        check_str("File", "name", self.name, optional=True)
        check_str("File", "format", self.format)
        check_str("File", "hash", self.hash, optional=True, nonempty=True)
        if self.name is None:
            self.name = c.base_name(self.path)

    def content_key(self) -> str:
        return self.hash or self.path

    @property
    def _hash_method(self) -> HashMethod | None:
        return self.__dict__.get("_hm")

    # ---- creating ----------------------------------------------------------------------------
    @classmethod
    def from_local_sync(
        cls,
        local_path: str | os.PathLike[str],
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
        chunk_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> File[T]:
        """Reference a local file; inside a run it is copied into the run's store first.

        ``chunk_size``/``max_concurrency`` are accepted for the anchor's signature; the store
        plugin picks its own transfer settings.
        """
        c.check_transfer_args(
            "File.from_local",
            local_path,
            remote_destination,
            chunk_size=chunk_size,
            max_concurrency=max_concurrency,
        )
        check_hash_method("File.from_local", hash_method)
        local = os.fspath(local_path)
        if not os.path.isfile(local):
            what = "is a directory (use Dir.from_local)" if os.path.isdir(local) else "does not exist"
            raise c.PathNotFoundError(f"File.from_local: local_path {local!r} {what}")
        name = os.path.basename(local)
        digest = _digest(local, hash_method)
        prefix = c.upload_prefix()
        dest = remote_destination or (c.new_uri(prefix, name) if prefix else None)
        if dest is None:
            f = cls(path=os.path.abspath(local), name=name, hash=digest)
        else:
            uri = c.current_store(dest).put_file(local, dest)
            f = cls(path=c.plain(uri), name=name, hash=digest)
        return _keyed(f) if isinstance(hash_method, str) else f

    @classmethod
    async def from_local(
        cls,
        local_path: str | os.PathLike[str],
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
        chunk_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> File[T]:
        """Async form of :meth:`from_local_sync`."""
        return await asyncio.to_thread(cls.from_local_sync, local_path, remote_destination, hash_method)

    @classmethod
    def from_existing_remote(cls, remote_path: str, file_cache_key: str | None = None) -> File[T]:
        """Reference a file already in a store; ``file_cache_key`` stands in for its content hash."""
        c.check_remote_ref(
            "File.from_existing_remote", "remote_path", remote_path, "file_cache_key", file_cache_key
        )
        return _keyed(cls(path=remote_path, hash=file_cache_key))

    @classmethod
    def new_remote(cls, file_name: str | None = None, hash_method: HashMethod | str | None = None) -> File[T]:
        """A new file in the run's store (a temporary file outside a run), written with ``open('wb')``.

        A string ``hash_method`` is the cache key as is; a hash method is fed the written bytes;
        without one the key is the SHA-256 of what was written.
        """
        c.check_new_name("File.new_remote", "file_name", file_name)
        check_hash_method("File.new_remote", hash_method)
        prefix = c.upload_prefix()
        name = file_name or f"file-{os.urandom(6).hex()}"
        path = c.plain(c.new_uri(prefix, name)) if prefix else c.scratch_path(name)
        f = _keyed(
            cls(path=path, name=c.base_name(path), hash=hash_method if isinstance(hash_method, str) else None)
        )
        if isinstance(hash_method, HashMethod):
            f.__dict__["_hm"] = hash_method
        return f

    @classmethod
    def named_remote(cls, name: str) -> File[T]:
        """A file in the run's store whose path depends only on the action and ``name``.

        A retried attempt gets the same path as the failed one, so it can find (or overwrite)
        what that attempt wrote instead of leaving an orphan. Only inside a task.
        """
        from flyte._context import current_action
        from flyte._runtime.store import join, safe_name

        ac = current_action.get()
        if ac is None:
            raise ValueError("File.named_remote() needs a running task (call it inside a task)")
        if not isinstance(name, str) or safe_name(name, default="") != name:
            from flyte.errors import InvalidParameterError

            raise InvalidParameterError(
                "File.named_remote", "name", name, "A plain file name such as 'data.csv' (no '/' or '..')"
            )
        return cls(
            path=c.plain(join(ac.controller.run_prefix, "named", safe_name(ac.action.action_id), name))
        )

    # ---- reading -----------------------------------------------------------------------------
    def download_sync(self, local_path: str | os.PathLike[str] | None = None) -> str:
        """Copy the file to ``local_path`` (a temporary path by default) and return where it is.

        A file already on this machine is not copied when no path is asked for. A ``local_path``
        that is a directory (or ends with a separator) receives the file under its own name.
        """
        if local_path is None:
            if not c.is_remote(self.path):
                local = c.local_path(self.path)
                if not os.path.isfile(local):
                    raise c.PathNotFoundError(f"File {self.path!r} does not exist")
                return local
            dest = c.scratch_path(self.name or "file")
        else:
            dest = os.fspath(local_path)
            if dest.endswith(os.sep) or os.path.isdir(dest):
                dest = os.path.join(dest, c.base_name(self.path) or self.name or "file")
            dest = os.path.abspath(dest)
        try:
            return c.current_store(self.path).get_file(self.path, dest)
        except FileNotFoundError as e:
            raise c.PathNotFoundError(f"File {self.path!r} does not exist ({e})") from e

    async def download(self, local_path: str | os.PathLike[str] | None = None) -> str:
        """Async form of :meth:`download_sync`."""
        return await asyncio.to_thread(self.download_sync, local_path)

    @contextmanager
    def open_sync(
        self,
        mode: str = "rb",
        block_size: int | None = None,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> Iterator[IO[Any]]:
        """Open for reading, or for writing (a file made with ``new_remote``); a plain file object.

        Written data reaches the store when the block exits, and ``hash`` is updated then.
        """
        if compression is not None:
            from flyte.errors import InvalidParameterError

            raise InvalidParameterError("File.open", "compression", compression, "Only None is supported")
        open_kw = {k: v for k, v in kwargs.items() if k in ("encoding", "errors", "newline")}
        remote = c.is_remote(self.path)
        if not any(m in mode for m in _WRITE_MODES):
            local = self.download_sync()
            try:
                with open(local, mode, **open_kw) as f:
                    yield f
            finally:
                if remote:  # the downloaded copy was ours alone
                    shutil.rmtree(os.path.dirname(local), ignore_errors=True)
            return
        if remote:
            target = c.scratch_path(self.name or "file")
            if ("a" in mode or "+" in mode) and self.exists_sync():
                self.download_sync(target)
        else:
            target = c.local_path(self.path)
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        try:
            with open(target, mode, **open_kw) as f:
                yield f
            if remote:
                c.current_store(self.path).put_file(target, self.path)
            if self._hash_method is not None:
                self.hash = feed(self._hash_method, file_chunks(target))
            elif not self.__dict__.get("_user_key"):  # the old content hash no longer holds
                self.hash = c.file_sha256(target)
        finally:
            if remote:
                shutil.rmtree(os.path.dirname(target), ignore_errors=True)

    def open(
        self,
        mode: str = "rb",
        block_size: int | None = None,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> AbstractAsyncContextManager[AsyncFile]:
        """``async with f.open("rb") as fh``: ``await fh.read()``, ``readline``, ``async for line in fh``.

        Writing (``"wb"``) gives ``await fh.write(data)``; the data reaches the store when the block exits.
        """
        return self._open(mode, block_size, cache_type, cache_options, compression, **kwargs)

    @asynccontextmanager
    async def _open(self, mode: str, *args: Any, **kwargs: Any) -> AsyncIterator[AsyncFile]:
        cm = self.open_sync(mode, *args, **kwargs)
        fh = await asyncio.to_thread(cm.__enter__)
        try:
            yield AsyncFile(fh)
        except BaseException as e:
            if not await asyncio.to_thread(cm.__exit__, type(e), e, e.__traceback__):
                raise
        else:
            await asyncio.to_thread(cm.__exit__, None, None, None)

    def exists_sync(self) -> bool:
        return c.current_store(self.path).exists(self.path)

    async def exists(self) -> bool:
        return await asyncio.to_thread(self.exists_sync)


def _keyed(f: File[T]) -> File[T]:
    """Mark ``f.hash`` as a key the user chose: writing to the file keeps it."""
    if f.hash is not None:
        f.__dict__["_user_key"] = True
    return f


def _digest(local: str, hash_method: HashMethod | str | None) -> str:
    if isinstance(hash_method, str):
        return hash_method
    if hash_method is not None:
        return feed(hash_method, file_chunks(local))
    return c.file_sha256(local)


class AsyncFile:
    """An open file with awaitable methods (what ``File.open`` yields); blocking calls run in a thread."""

    def __init__(self, raw: IO[Any]) -> None:
        self._raw = raw

    async def read(self, size: int = -1) -> Any:
        return await asyncio.to_thread(self._raw.read, size)

    async def readline(self, size: int = -1) -> Any:
        return await asyncio.to_thread(self._raw.readline, size)

    async def readlines(self, hint: int = -1) -> list[Any]:
        return await asyncio.to_thread(self._raw.readlines, hint)

    async def write(self, data: Any) -> int:
        return await asyncio.to_thread(self._raw.write, data)

    async def writelines(self, lines: Any) -> None:
        await asyncio.to_thread(self._raw.writelines, lines)

    async def flush(self) -> None:
        await asyncio.to_thread(self._raw.flush)

    async def seek(self, offset: int, whence: int = 0) -> int:
        return await asyncio.to_thread(self._raw.seek, offset, whence)

    async def tell(self) -> int:
        return self._raw.tell()

    async def close(self) -> None:
        """Closing early is allowed; the upload still happens when the ``async with`` block exits."""
        await asyncio.to_thread(self._raw.flush)

    def __aiter__(self) -> AsyncFile:
        return self

    async def __anext__(self) -> Any:
        line = await asyncio.to_thread(self._raw.readline)
        if not line:
            raise StopAsyncIteration
        return line

    @property
    def raw(self) -> IO[Any]:
        """The underlying (blocking) file object, e.g. for ``pandas.read_csv``."""
        return self._raw

    @property
    def closed(self) -> bool:
        return bool(self._raw.closed)

    @property
    def mode(self) -> str:
        return str(getattr(self._raw, "mode", ""))

    @property
    def name(self) -> str:
        return str(getattr(self._raw, "name", ""))
