"""The transfer functions of ``flyte.storage`` over this SDK's object stores (``store_for(uri)``).

Local paths and ``file://`` URIs go to the local store; ``s3://`` to flyte-plugin-s3's. Blocking store
calls run on a worker thread, so the coroutines never block the caller's event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import pathlib
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any

from flyte.errors import InvalidParameterError

_open = builtins.open
DEFAULT_CHUNK = 10 * 2**20


def _scheme(path: str) -> str:
    return path.split("://", 1)[0] if "://" in path else "file"


def _uri(path: str | os.PathLike[str]) -> str:
    """A store URI: local paths become absolute ``file://`` URIs."""
    from flyte._runtime.store import path_to_uri

    p = os.fspath(path)
    if "://" in p:
        return p
    return path_to_uri(os.path.abspath(os.path.expanduser(p)))


def _local(path: str) -> str:
    from flyte._runtime.store import uri_to_path

    return uri_to_path(path) if path.startswith("file://") else path


def _store(uri: str) -> Any:
    from flyte._runtime.store import store_for

    return store_for(uri)


def is_remote(path: pathlib.Path | str) -> bool:
    """Whether ``path`` names an object store rather than this machine's file system."""
    return _scheme(os.fspath(path)) != "file"


def join(*paths: str) -> str:
    """Join path parts (``os.path.join``, as the reference SDK does)."""
    return str(os.path.join(*paths))


def get_random_local_path(file_path_or_file_name: pathlib.Path | str | None = None) -> pathlib.Path:
    """A fresh path under a new temporary folder; keeps the given name's last component if any."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="flyte-tmp-"))
    folder = base / uuid.uuid4().hex
    tail = os.path.split(os.fspath(file_path_or_file_name))[1] if file_path_or_file_name else ""
    if tail:
        folder.mkdir(parents=True, exist_ok=True)
        return folder / tail
    return folder


def get_random_local_directory() -> pathlib.Path:
    """A fresh, existing temporary folder."""
    d = get_random_local_path(None)
    d.mkdir(parents=True, exist_ok=True)
    return d


def get_configured_fsspec_kwargs(protocol: str | None = None, anonymous: bool = False) -> dict[str, Any]:
    """The options the store for ``protocol`` is made with (``flyte.init(storage=...)``)."""
    from flyte._runtime.store import storage_options

    return storage_options(protocol or "file")


def get_underlying_filesystem(
    protocol: str | None = None, anonymous: bool = False, path: str | None = None
) -> Any:
    """The object store (this SDK's, not an fsspec file system) that handles ``path``/``protocol``."""
    if path is not None:
        return _store(_uri(path))
    return _store(f"{protocol or 'file'}://")


def _random_remote_path(name: str | None) -> str:
    """Where an upload goes when no ``to_path`` is given: the current run's data, else the
    configured raw data path, under a fresh folder."""
    from flyte._config import get_settings
    from flyte._context import current_action
    from flyte._runtime.store import join as store_join
    from flyte._runtime.store import safe_name

    ac = current_action.get()
    prefix = getattr(getattr(ac, "controller", None), "run_prefix", None) if ac is not None else None
    base = prefix or store_join(get_settings().raw_data_path, "uploads")
    return store_join(base, uuid.uuid4().hex[:16], safe_name(name or "data"))


def _check_path(func: str, field: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise InvalidParameterError(func, field, value, "Use a non-empty path or URI string.")
    return os.fspath(value)


def _get_sync(from_path: str, to_path: str | None, recursive: bool) -> str:
    src = _uri(from_path)
    store = _store(src)
    if not store.exists(src):
        raise FileNotFoundError(f"flyte.storage.get: nothing at {from_path}")
    if to_path is None:
        to_path = str(get_random_local_path(src.rstrip("/").rsplit("/", 1)[-1]))
    if _scheme(src) == "file" or not recursive:
        return str(store.get_file(src, to_path))
    listing = getattr(store, "list", None)
    if listing is None:
        raise InvalidParameterError("get", "recursive", True, f"the store for {src} cannot list folders")
    base = src.rstrip("/") + "/"
    for uri in listing(src):
        dest = os.path.join(to_path, *uri[len(base) :].split("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        store.get_file(uri, dest)
    return to_path


async def get(
    from_path: str, to_path: str | pathlib.Path | None = None, recursive: bool = False, **kwargs: Any
) -> str:
    """Copy a file (or, ``recursive=True``, a folder) from a store to this machine; returns the
    local path (a fresh temporary one when ``to_path`` is None)."""
    src = _check_path("get", "from_path", from_path)
    dst = None if to_path is None else os.fspath(to_path)
    return await asyncio.to_thread(_get_sync, src, dst, recursive)


def _put_sync(from_path: str, to_path: str | None, recursive: bool) -> str:
    local = _local(from_path)
    if not os.path.exists(local):
        raise FileNotFoundError(f"flyte.storage.put: no such file or folder {from_path}")
    if os.path.isdir(local) and not recursive:
        raise InvalidParameterError(
            "put", "recursive", False, f"{from_path} is a folder; pass recursive=True."
        )
    dst = _uri(to_path) if to_path else _random_remote_path(os.path.basename(local.rstrip("/")))
    store = _store(dst)
    if not os.path.isdir(local) or _scheme(dst) == "file":
        return str(store.put_file(local, dst))
    for root, _, files in os.walk(local):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), local).replace(os.sep, "/")
            store.put_file(os.path.join(root, name), dst.rstrip("/") + "/" + rel)
    return dst


async def put(
    from_path: str,
    to_path: str | None = None,
    recursive: bool = False,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    max_concurrency: int | None = None,
    **kwargs: Any,
) -> str:
    """Copy a local file (or folder, ``recursive=True``) into a store; returns its URI. Without
    ``to_path`` it goes under the current run's data (or the raw data path) in a fresh folder."""
    src = _check_path("put", "from_path", from_path)
    return await asyncio.to_thread(_put_sync, src, to_path, recursive)


async def put_stream(
    data_iterable: AsyncIterable[bytes] | bytes,
    *,
    name: str | None = None,
    to_path: str | None = None,
    size_hint: int | None = None,
    chunk_size: int | None = None,
    max_concurrency: int | None = None,
    **kwargs: Any,
) -> str:
    """Write bytes (or an async iterable of byte chunks) to ``to_path`` or a fresh location; returns
    its URI. Chunks are collected before the single write (stores here take whole objects)."""
    if isinstance(data_iterable, (bytes, bytearray, memoryview)):
        data = bytes(data_iterable)
    elif hasattr(data_iterable, "__aiter__"):
        data = b"".join([bytes(c) async for c in data_iterable])
    else:
        raise InvalidParameterError(
            "put_stream",
            "data_iterable",
            type(data_iterable).__name__,
            "Use bytes or an async iterable of bytes.",
        )
    dst = _uri(to_path) if to_path else _random_remote_path(name)
    return str(await asyncio.to_thread(_store(dst).put_bytes, dst, data))


async def get_stream(
    path: str, chunk_size: int = DEFAULT_CHUNK, **kwargs: Any
) -> AsyncGenerator[bytes, None]:
    """The object at ``path`` in chunks of ``chunk_size`` bytes."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidParameterError("get_stream", "chunk_size", chunk_size, "Use a positive number of bytes.")
    uri = _uri(_check_path("get_stream", "path", path))
    if _scheme(uri) == "file":
        with _open(_local(uri), "rb") as f:
            while chunk := await asyncio.to_thread(f.read, chunk_size):
                yield chunk
        return
    data = await asyncio.to_thread(_store(uri).get_bytes, uri)
    for i in range(0, len(data), chunk_size):
        yield data[i : i + chunk_size]


class AsyncFile:
    """A file opened by :func:`open`: ``await f.read()`` / ``await f.write(b)``, ``async with``.

    Reads of remote objects fetch the object once; writes are buffered and stored on ``close()``."""

    def __init__(self, uri: str, mode: str) -> None:
        self.uri = uri
        self.mode = mode
        self._local = _scheme(uri) == "file"
        self._fh: Any = None
        self._buf = bytearray()
        self._data: bytes | None = None
        self._pos = 0
        self.closed = False

    async def _start(self) -> AsyncFile:
        if self._local:
            path = _local(self.uri)
            if "w" in self.mode:
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._fh = await asyncio.to_thread(_open, path, self.mode)
        elif "r" in self.mode:
            self._data = await asyncio.to_thread(_store(self.uri).get_bytes, self.uri)
        return self

    async def read(self, size: int = -1) -> bytes | str:
        if self._fh is not None:
            return await asyncio.to_thread(self._fh.read, size)  # type: ignore[no-any-return]
        data = self._data or b""
        end = len(data) if size is None or size < 0 else self._pos + size
        out, self._pos = data[self._pos : end], min(end, len(data))
        return out.decode() if "b" not in self.mode else out

    async def write(self, data: bytes | str) -> int:
        if self._fh is not None:
            return await asyncio.to_thread(self._fh.write, data)  # type: ignore[no-any-return]
        self._buf += data.encode() if isinstance(data, str) else data
        return len(data)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._fh is not None:
            await asyncio.to_thread(self._fh.close)
        elif "w" in self.mode:
            await asyncio.to_thread(_store(self.uri).put_bytes, self.uri, bytes(self._buf))

    async def __aenter__(self) -> AsyncFile:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def open(path: str, mode: str = "rb", **kwargs: Any) -> AsyncFile:
    """Open a file or object for reading (``"rb"``/``"r"``) or writing (``"wb"``/``"w"``)."""
    if mode not in ("rb", "r", "wb", "w"):
        raise InvalidParameterError("open", "mode", mode, "Use 'rb', 'r', 'wb' or 'w'.")
    return await AsyncFile(_uri(_check_path("open", "path", path)), mode)._start()


async def exists(path: str, **kwargs: Any) -> bool:
    """Whether a file, folder or object exists at ``path``."""
    return await asyncio.to_thread(exists_sync, path)


def exists_sync(path: str, **kwargs: Any) -> bool:
    uri = _uri(_check_path("exists", "path", path))
    return bool(_store(uri).exists(uri))
