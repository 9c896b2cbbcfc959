"""Object stores addressed by URI: inputs and outputs too large for the journal, offloaded files.

The scheme picks the backend through the plugin registry (``file`` is built in; ``s3`` comes from a
plugin). Writes go to a temporary name and are renamed, so a crash never leaves a half object.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Protocol
from urllib.parse import unquote, urlparse


class ObjectStore(Protocol):
    """What the runtime needs from a store; plugins implement it for other schemes."""

    def put_bytes(self, uri: str, data: bytes) -> str: ...

    def get_bytes(self, uri: str) -> bytes: ...

    def put_file(self, local_path: str, uri: str) -> str: ...

    def get_file(self, uri: str, local_path: str) -> str: ...

    def exists(self, uri: str) -> bool: ...


def uri_to_path(uri: str) -> str:
    if uri.startswith("file://"):
        return unquote(urlparse(uri).path)
    return uri


def path_to_uri(path: str) -> str:
    return "file://" + os.path.abspath(path)


def join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *(p.strip("/") for p in parts)])


class LocalObjectStore:
    """A directory on this machine, addressed with ``file://`` URIs."""

    def put_bytes(self, uri: str, data: bytes) -> str:
        path = uri_to_path(uri)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return path_to_uri(path)

    def get_bytes(self, uri: str) -> bytes:
        with open(uri_to_path(uri), "rb") as f:
            return f.read()

    def put_file(self, local_path: str, uri: str) -> str:
        dest = uri_to_path(uri)
        if os.path.abspath(local_path) == os.path.abspath(dest):
            return path_to_uri(dest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.isdir(local_path):
            tmp = dest + ".tmp-copy"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(local_path, tmp)
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(tmp, dest)
        else:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".tmp-")
            os.close(fd)
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, dest)
        return path_to_uri(dest)

    def get_file(self, uri: str, local_path: str) -> str:
        src = uri_to_path(uri)
        if os.path.abspath(src) == os.path.abspath(local_path):
            return local_path
        os.makedirs(os.path.dirname(os.path.abspath(local_path)) or ".", exist_ok=True)
        if os.path.isdir(src):
            shutil.copytree(src, local_path, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, local_path)
        return local_path

    def exists(self, uri: str) -> bool:
        return os.path.exists(uri_to_path(uri))


def store_for(uri: str) -> ObjectStore:
    """The store for a URI's scheme, from the plugin registry."""
    scheme = urlparse(uri).scheme or "file"
    if scheme == "file":
        return LocalObjectStore()
    from flyte._plugins.manager import load_plugins

    factory = load_plugins().storage.get(scheme)
    if factory is None:
        from flyte.errors import PluginError

        raise PluginError(
            f"No storage plugin handles {scheme}:// URIs (for s3 install flyte-plugin-s3); got {uri!r}"
        )
    return factory()  # type: ignore[no-any-return]
