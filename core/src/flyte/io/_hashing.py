"""Hash methods for ``File``: how a file's cache key is computed from its bytes.

By default a file's ``hash`` is the SHA-256 of its content (computed by the runtime). A user can
pass ``hash_method=`` to ``File.from_local``/``File.new_remote``: a string (a precomputed key, used
as is), a :class:`HashFunction` wrapping their own function, or any object with ``update(data)``
and ``result()`` (``HashlibAccumulator`` adapts a ``hashlib`` object).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class HashMethod(Protocol):
    """Anything fed the file's bytes through ``update`` whose ``result()`` is the cache key."""

    def update(self, data: Any, /) -> None: ...

    def result(self) -> str: ...


class HashFunction:
    """A hash method built from a function of the data; each ``update`` replaces the result.

    The bytes are fed in chunks of up to :data:`CHUNK` bytes, so for files larger than one chunk
    the function sees the last chunk only: use ``HashlibAccumulator`` to hash whole large files.
    """

    def __init__(self, fn: Callable[[Any], str]) -> None:
        if not callable(fn):
            from flyte.errors import InvalidParameterTypeError

            raise InvalidParameterTypeError(
                "HashFunction", "fn", fn, "a callable taking the data, returning a str"
            )
        self._fn = fn
        self._value: str | None = None

    @classmethod
    def from_fn(cls, fn: Callable[[Any], str]) -> HashFunction:
        return cls(fn)

    def update(self, data: Any, /) -> None:
        self._value = self._fn(data)

    def result(self) -> str:
        if self._value is None:
            raise ValueError("HashFunction.result(): no data was hashed yet (call update first)")
        return self._value

    def reset(self) -> None:
        self._value = None


class HashlibAccumulator:
    """Adapts a ``hashlib`` object (``hashlib.md5()``...) to the hash-method protocol."""

    def __init__(self, h: Any) -> None:
        self._h = h

    @classmethod
    def from_hash_name(cls, name: str) -> HashlibAccumulator:
        return cls(hashlib.new(name))

    def update(self, data: Any, /) -> None:
        self._h.update(data)

    def result(self) -> str:
        return str(self._h.hexdigest())


CHUNK = 8 * 1024 * 1024


def check_hash_method(owner: str, hash_method: Any) -> None:
    """Reject a ``hash_method`` that is neither a key nor a hash method, naming the parameter."""
    from flyte.errors import InvalidParameterError, InvalidParameterTypeError

    if isinstance(hash_method, str) and not hash_method.strip():
        raise InvalidParameterError(owner, "hash_method", hash_method, "Pass a non-empty cache key.")
    if hash_method is None or isinstance(hash_method, str) or isinstance(hash_method, HashMethod):
        return
    raise InvalidParameterTypeError(
        owner,
        "hash_method",
        hash_method,
        "a str (a precomputed key), a HashFunction, or an object with update/result",
    )


def feed(method: HashMethod, chunks: Iterable[bytes]) -> str:
    for chunk in chunks:
        method.update(chunk)
    return method.result()


def file_chunks(path: str) -> Iterable[bytes]:
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return
            yield chunk
