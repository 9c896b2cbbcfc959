"""Object stores addressed by URI: inputs and outputs too large for the journal, offloaded files.

The scheme picks the backend through the plugin registry (``file`` is built in; ``s3`` comes from a
plugin). Writes go to a temporary name and are renamed, so a crash never leaves a half object.

Plugin stores are made once per scheme and settings (``flyte.init(storage=...)``), and wrapped in
:class:`RetryingStore`: failures the store calls transient (``is_transient``: connection refused,
5xx, throttling) are retried here with exponential backoff and jitter, never against a task's
retries; past the deadline the caller gets :class:`ObjectStoreError` (a ``StorageError`` that is not
retried as a user error either, so the run fails and ``flyte rerun --recover`` finishes it later).
"""

from __future__ import annotations

import errno
import inspect
import json
import logging
import os
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

from flyte._plugins.contract import ObjectStore as ObjectStore  # where it lived before the contract
from flyte.errors import BaseRuntimeError, NonRecoverableError, StorageError

log = logging.getLogger("flyte.storage")


def uri_to_path(uri: str) -> str:
    if uri.startswith("file://"):
        return unquote(urlparse(uri).path)
    return uri


def path_to_uri(path: str) -> str:
    return "file://" + os.path.abspath(path)


def join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *(p.strip("/") for p in parts)])


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_name(name: str, default: str = "file") -> str:
    """One path component built from a value (a file name): never a separator, ``.`` or ``..``.

    Object keys are made by joining such components under the run's prefix, so a value such as
    ``../../other-run/outputs`` cannot address anything outside it.
    """
    cleaned = _UNSAFE.sub("_", name).strip()
    if cleaned in ("", ".", ".."):
        return default
    return cleaned[:255]


_RESERVE_FROM = 8 << 20


def _reserve(fd: int, parts: Any) -> bool:
    """Allocate a large value's blocks before writing it (issue 20: ext4 then skips the per-page
    block reservation; ~30% less time writing 50 MB). A disk too full for it is the write's error
    (raised here, in ``_local_faults``); a filesystem without the call is simply written. True when
    reserved: the caller then cuts the file where its writes ended."""
    if hasattr(parts, "chunks"):
        size = len(parts)
    elif isinstance(parts, (tuple, list)):  # (never an iterator: it would be used up here)
        size = sum(len(p) for p in parts)
    else:
        return False
    if size < _RESERVE_FROM or not hasattr(os, "posix_fallocate"):
        return False
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        return False
    return True


class LocalObjectStore:
    """A directory on this machine, addressed with ``file://`` URIs.

    A failure of the store itself (its directory unwritable, the disk full, a file where a directory
    of the run's prefix should be) is raised as :class:`~flyte.errors.StorageError` naming the path
    and the fix, never as a bare ``OSError`` that would look like the task's own failure. A missing
    object is still ``FileNotFoundError``, and errors about the caller's local file pass through.
    """

    def put_bytes(self, uri: str, data: bytes) -> str:
        return self.put_parts(uri, (data,))

    def put_parts(self, uri: str, parts: Any) -> str:
        """Write a value given in pieces (bytes, or an object with ``chunks()``: a long text encoded
        a slice at a time, ``codec.TextParts``), never joined in memory."""
        path = uri_to_path(uri)
        chunks = parts.chunks() if hasattr(parts, "chunks") else parts
        with _local_faults("write", path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    reserved = _reserve(fd, parts)
                    for chunk in chunks:
                        f.write(chunk)
                    if reserved:  # the object is what was written, whatever its length said
                        f.truncate()
                os.replace(tmp, path)
            except BaseException:
                _discard(tmp)
                raise
        return path_to_uri(path)

    def get_bytes(self, uri: str) -> bytes:
        path = uri_to_path(uri)
        with _local_faults("read", path, missing_ok=True):
            with open(path, "rb") as f:
                return f.read()

    def put_file(self, local_path: str, uri: str) -> str:
        dest = uri_to_path(uri)
        if os.path.abspath(local_path) == os.path.abspath(dest):
            return path_to_uri(dest)
        if not os.path.exists(local_path):  # the caller's file: not a fault of the store
            raise FileNotFoundError(errno.ENOENT, "no such file or directory to upload", local_path)
        with _local_faults("write", dest, caller_path=local_path):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.isdir(local_path):
                tmp = dest + ".tmp-copy"
                shutil.rmtree(tmp, ignore_errors=True)
                try:
                    shutil.copytree(local_path, tmp)
                except shutil.Error as e:  # copytree gathers per-file errors: report the first one
                    first = e.args[0][0] if e.args and e.args[0] else ("", "", str(e))
                    raise OSError(_errno_in(first[2]), str(first[2]), first[1] or tmp) from e
                shutil.rmtree(dest, ignore_errors=True)
                os.replace(tmp, dest)
            else:
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".tmp-")
                os.close(fd)
                try:
                    shutil.copyfile(local_path, tmp)
                    os.replace(tmp, dest)
                except BaseException:
                    _discard(tmp)
                    raise
        return path_to_uri(dest)

    def get_file(self, uri: str, local_path: str) -> str:
        src = uri_to_path(uri)
        if os.path.abspath(src) == os.path.abspath(local_path):
            return local_path
        with _local_faults("read", src, missing_ok=True, caller_path=local_path):
            os.makedirs(os.path.dirname(os.path.abspath(local_path)) or ".", exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, local_path, dirs_exist_ok=True)
            else:
                shutil.copyfile(src, local_path)
        return local_path

    def exists(self, uri: str) -> bool:
        return os.path.exists(uri_to_path(uri))


_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_IN_THE_WAY = {errno.ENOTDIR, errno.EEXIST, errno.EISDIR}


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _related(a: str, b: str) -> bool:
    """Whether one path is the other or below it."""
    return a == b or a.startswith(b.rstrip(os.sep) + os.sep) or b.startswith(a.rstrip(os.sep) + os.sep)


def _errno_in(text: object) -> int:
    m = re.match(r"\[Errno (\d+)\]", str(text))
    return int(m.group(1)) if m else errno.EIO


def _blocker(path: str) -> str | None:
    """The nearest ancestor of ``path`` that exists and is not a directory (a file in the way)."""
    cur = os.path.dirname(os.path.abspath(path))
    while cur and cur != os.path.dirname(cur):
        if os.path.lexists(cur):
            return None if os.path.isdir(cur) else cur
        cur = os.path.dirname(cur)
    return None


def _nearest_dir(path: str) -> str:
    cur = os.path.dirname(os.path.abspath(path))
    while cur and not os.path.isdir(cur) and cur != os.path.dirname(cur):
        cur = os.path.dirname(cur)
    return cur


def _run_of(path: str) -> str:
    """The run a store path belongs to (``<raw data>/runs/<run>/...``), for the resume hint."""
    m = re.search(r"/runs/([^/]+)(/|$)", path)
    return m.group(1) if m else "RUN"


def local_fault(op: str, path: str, e: OSError) -> StorageError:
    """A :class:`StorageError` for an ``OSError`` of the local store: what failed, where, the fix."""
    code = e.errno or _errno_in(e)
    where = e.filename if isinstance(e.filename, str) and e.filename else path
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = (
            f"make {_nearest_dir(where) if not os.path.isdir(where) else where} writable by this user "
            "(e.g. chmod u+w) or point raw_data_path at a writable directory"
        )
    elif code in _IN_THE_WAY or (code == errno.ENOENT and _blocker(path)):
        blocker = _blocker(path) or where
        fix = (
            f"{blocker} is a file where the store needs a directory: move it away (or choose another "
            "raw_data_path)"
        )
    elif code in _FULL:
        fix = (
            f"free space on the file system holding {_nearest_dir(path)} (or raise the quota / file-size "
            "limit, or choose another raw_data_path)"
        )
    else:
        fix = f"check that {_nearest_dir(path)} is readable and writable"
    return StorageError(
        f"storage failure: could not {op} {path}: {e.strerror or e} (errno {code}). Fix: {fix}; then "
        f"resume with `flyte rerun {_run_of(path)} --recover` (what finished is kept).",
        path=path,
    )


class _local_faults:
    """Turns ``OSError`` from the store's side of an operation into :class:`StorageError`."""

    def __init__(self, op: str, path: str, missing_ok: bool = False, caller_path: str | None = None) -> None:
        self.op = op
        self.path = path
        self.missing_ok = missing_ok
        self.caller = os.path.abspath(caller_path) if caller_path else None

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, e: BaseException | None, tb: object) -> None:
        if not isinstance(e, OSError):
            return None
        name = e.filename if isinstance(e.filename, str) else None
        if self.caller is not None and name is not None and _related(os.path.abspath(name), self.caller):
            return None  # the caller's own file (the upload's source, the download's target)
        if self.missing_ok and isinstance(e, FileNotFoundError) and not _blocker(self.path):
            return None  # no such object: the caller decides what a missing value means
        raise local_fault(self.op, self.path, e) from e


class ObjectStoreError(StorageError, NonRecoverableError):
    """The object store failed: down past the retry deadline, or a permanent error (access denied).

    A ``flyte.errors.StorageError`` (kind ``system``). It is also a ``NonRecoverableError`` so that a
    task's own retries are not spent on it: the runtime already retried transient failures, and the
    run fails instead; nothing it recorded is lost, and ``flyte rerun RUN --recover`` finishes it.
    """

    def __init__(self, message: str, transient: bool = True, path: str | None = None) -> None:
        BaseRuntimeError.__init__(self, "StorageError", "system", message)
        self.transient = transient
        self.path = path


RETRY_DEADLINE = 60.0
"""Seconds a transient storage failure is retried before the run fails (FLYTE_STORAGE_RETRY_DEADLINE)."""
RUNTIME_OPTIONS = ("retry_deadline", "retry_base_delay", "retry_max_delay")
_PASS_THROUGH = (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError, TypeError)


def _default_transient(exc: BaseException) -> bool:
    return isinstance(exc, (ConnectionError, TimeoutError))


class RetryingStore:
    """Wraps a plugin's store: transient failures are retried with exponential backoff and jitter."""

    def __init__(
        self,
        inner: Any,
        deadline: float = RETRY_DEADLINE,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
    ) -> None:
        self.inner = inner
        self.deadline = deadline
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._transient: Callable[[BaseException], bool] = getattr(inner, "is_transient", _default_transient)

    def __repr__(self) -> str:
        return f"RetryingStore({self.inner!r}, deadline={self.deadline:g}s)"

    def call(self, op: str, uri: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.monotonic()
        attempt = 0
        while True:
            try:
                return fn(*args)
            except _PASS_THROUGH:
                raise
            except Exception as e:
                if not self._transient(e):
                    raise ObjectStoreError(
                        f"object store: {op} {uri} failed: {type(e).__name__}: {e}. Fix the store's "
                        f"settings or permissions, then resume with `flyte rerun {_run_of(uri)} --recover`.",
                        transient=False,
                        path=uri,
                    ) from e
                elapsed = time.monotonic() - start
                step = min(self.max_delay, self.base_delay * 2**attempt)
                delay = step / 2 + random.uniform(0, step / 2)  # exponential, with jitter
                if elapsed >= self.deadline:
                    raise ObjectStoreError(
                        f"object store unavailable: {op} {uri} still failing after {attempt + 1} tries in "
                        f"{elapsed:.1f}s (retry deadline {self.deadline:g}s, FLYTE_STORAGE_RETRY_DEADLINE): "
                        f"{type(e).__name__}: {e}. What was recorded is kept: once storage is back, "
                        f"resume with `flyte rerun {_run_of(uri)} --recover`.",
                        path=uri,
                    ) from e
                (log.warning if attempt == 0 else log.debug)(
                    "object store: %s %s failed (%s: %s); retrying for up to %gs",
                    op,
                    uri,
                    type(e).__name__,
                    e,
                    self.deadline,
                )
                # the last wait ends at the deadline: one more try then, not a give-up a whole
                # backoff step early (the deadline is how long a store may be away)
                time.sleep(min(delay, self.deadline - elapsed))
                attempt += 1

    def put_bytes(self, uri: str, data: bytes) -> str:
        return self.call("put", uri, self.inner.put_bytes, uri, data)  # type: ignore[no-any-return]

    def get_bytes(self, uri: str) -> bytes:
        return self.call("get", uri, self.inner.get_bytes, uri)  # type: ignore[no-any-return]

    def put_file(self, local_path: str, uri: str) -> str:
        return self.call("upload", uri, self.inner.put_file, local_path, uri)  # type: ignore[no-any-return]

    def get_file(self, uri: str, local_path: str) -> str:
        return self.call("download", uri, self.inner.get_file, uri, local_path)  # type: ignore[no-any-return]

    def exists(self, uri: str) -> bool:
        return self.call("exists", uri, self.inner.exists, uri)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        """Other methods of the store (``list``, ``delete``...), retried the same way."""
        fn = getattr(self.inner, name)
        if not callable(fn) or name.startswith("_"):
            return fn

        def retried(uri: str, *args: Any) -> Any:
            return self.call(name, uri, fn, uri, *args)

        return retried


_LOCAL = LocalObjectStore()
_stores: dict[str, ObjectStore] = {}
_stores_lock = threading.Lock()


def storage_options(scheme: str) -> dict[str, Any]:
    """Options for ``scheme``'s store: ``flyte.init(storage=...)`` / config, else $FLYTE_STORAGE_OPTIONS.

    Flat keys apply to every scheme; a sub-table named after a scheme (``storage={"s3": {...}}``)
    applies to that scheme only. The environment variable (JSON) is how a run hands its options to
    its worker processes; it never carries credentials (stores take those from their own chain).
    """
    from flyte._config import get_settings

    raw: dict[str, Any] = dict(get_settings().storage_options)
    if not raw:
        env = os.environ.get("FLYTE_STORAGE_OPTIONS")
        if env:
            try:
                raw = dict(json.loads(env))
            except (ValueError, TypeError):
                raw = {}
    opts = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    scoped = raw.get(scheme)
    if isinstance(scoped, dict):
        opts.update(scoped)
    return opts


def store_for(uri: str) -> ObjectStore:
    """The store for a URI's scheme, from the plugin registry (made once per scheme and options)."""
    scheme = urlparse(uri).scheme or "file"
    if scheme == "file":
        return _LOCAL
    opts = storage_options(scheme)
    env_deadline = os.environ.get("FLYTE_STORAGE_RETRY_DEADLINE") or ""
    key = f"{scheme}|{env_deadline}|{json.dumps(opts, sort_keys=True, default=str)}"
    store = _stores.get(key)
    if store is not None:
        return store
    from flyte._plugins.manager import load_plugins

    factory = load_plugins().storage.get(scheme)
    if factory is None:
        from flyte._plugins.manager import conventional_distribution, missing_plugin_hint
        from flyte.errors import PluginError

        hint = missing_plugin_hint(scheme) or (
            " Install the plugin that registers it, by the naming convention: pip install "
            f"{conventional_distribution('flyteplugins.' + scheme)}."
        )
        raise PluginError(f"No storage plugin handles {scheme}:// URIs; got {uri!r}.{hint}")
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            runtime = {k: opts.pop(k) for k in RUNTIME_OPTIONS if k in opts}
            deadline = float(runtime.get("retry_deadline") or env_deadline or RETRY_DEADLINE)
            inner = _make(factory, opts)
            store = RetryingStore(
                inner,
                deadline=deadline,
                base_delay=float(runtime.get("retry_base_delay", 0.1)),
                max_delay=float(runtime.get("retry_max_delay", 5.0)),
            )
            _stores[key] = store
    return store


def _make(factory: Any, opts: dict[str, Any]) -> Any:
    """Call a store factory with ``options=`` when it takes them (``factory()`` otherwise)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    takes = "options" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return factory(options=opts) if takes else factory()


def clear_store_cache() -> None:
    """Forget the stores made so far (after the settings changed, in tests)."""
    with _stores_lock:
        _stores.clear()
