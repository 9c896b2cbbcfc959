"""Task result caching: when a task with the same inputs and cache version already succeeded, reuse it.

The version is derived from the function's source (``behavior="auto"``) or given explicitly
(``version_override``), so editing a task invalidates its cache unless the user pins the version on
purpose. ``behavior="override"`` never reads the cache: such a task always runs and rewrites its
entry. Validated when built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from flyte._validate import param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

if TYPE_CHECKING:
    from flyte._image import Image

__all__ = [
    "Cache",
    "CacheBehavior",
    "CachePolicy",
    "CacheRequest",
    "FunctionBodyPolicy",
    "VersionParameters",
    "cache_from_request",
    "normalize_cache",
]

CacheBehavior = Literal["auto", "override", "disable"]
_BEHAVIORS: tuple[str, ...] = ("auto", "override", "disable")
# Spellings users reach for, mapped to a behaviour (as the anchor SDK does).
_ALIASES: dict[str, CacheBehavior] = {
    "enable": "auto",
    "enabled": "auto",
    "on": "auto",
    "true": "auto",
    "yes": "auto",
    "off": "disable",
    "disabled": "disable",
    "false": "disable",
    "no": "disable",
    "none": "disable",
}
_BEHAVIOR_ACCEPTED = (
    "Invalid cache behavior (aliases accepted: enable, on, off, disabled, ...). "
    "Use 'auto' (version derived from the function source), 'disable', or "
    "Cache(behavior='override', version_override='v1') to pin the version yourself."
)


@dataclass(frozen=True)
class VersionParameters:
    """What a :class:`CachePolicy` may look at to compute a version: the function and its image."""

    func: Callable[..., Any] | None
    image: str | Image | None = None


@runtime_checkable
class CachePolicy(Protocol):
    """Computes a cache version; implement ``get_version`` for custom strategies (e.g. a git hash)."""

    def get_version(self, salt: str, params: VersionParameters) -> str: ...


@dataclass(frozen=True)
class FunctionBodyPolicy:
    """The default policy: the version is a hash of the function's source code (and the salt)."""

    def get_version(self, salt: str, params: VersionParameters) -> str:
        import inspect
        import textwrap

        func = params.func
        if func is None:
            return hashlib.sha256(salt.encode()).hexdigest()
        func = inspect.unwrap(func)
        try:
            body = textwrap.dedent(inspect.getsource(func))
        except (OSError, TypeError):
            code = getattr(func, "__code__", None)
            body = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', repr(func))}"
            if code is not None:
                body += code.co_code.hex() + repr(code.co_consts)
        return hashlib.sha256(f"{salt}\n{body}".encode()).hexdigest()


def _is_identifier_tuple(value: object) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, str) and v.isidentifier() for v in value)


@dataclass(frozen=True)
class Cache:
    """Cache configuration for a task.

    - ``behavior``: ``"auto"`` (version from the source), ``"override"`` (``version_override``
      required; every call runs and rewrites the entry, nothing is read back), or ``"disable"``.
    - ``serialize``: concurrent runs with identical inputs run once; the others wait and reuse it.
    - ``ignored_inputs``: input names left out of the cache key (e.g. a timestamp).
    - ``salt``: extra key material; change it to start a fresh cache namespace.
    - ``policies``: custom :class:`CachePolicy` objects (default: :class:`FunctionBodyPolicy`).
    - ``max_age``: oldest cached result to reuse (seconds or timedelta); None means no limit.
    """

    behavior: CacheBehavior = "auto"
    version_override: str | None = None
    serialize: bool = False
    ignored_inputs: tuple[str, ...] | str = ()
    salt: str = ""
    policies: CachePolicy | Sequence[CachePolicy] | None = None
    max_age: timedelta | int | None = None
    """Stored as a timedelta: ``max_age=3600`` equals ``max_age=timedelta(hours=1)``."""

    def __post_init__(self) -> None:
        behavior = self.behavior
        if isinstance(behavior, str) and behavior not in _BEHAVIORS and behavior.lower() in _ALIASES:
            behavior = _ALIASES[behavior.lower()]
            object.__setattr__(self, "behavior", behavior)
        if behavior not in _BEHAVIORS:
            raise param_error("Cache", "behavior", self.behavior, _BEHAVIOR_ACCEPTED, types=str)
        if self.version_override is not None:
            # As in the anchor, a version_override pins the version whatever the behaviour says
            # (behavior='auto' with a version is the same as 'override'; 'disable' ignores it).
            if not isinstance(self.version_override, str) or not self.version_override.strip():
                raise param_error(
                    "Cache",
                    "version_override",
                    self.version_override,
                    "Use a non-empty string such as 'v1'.",
                    types=str,
                )
        elif behavior == "override":
            raise InvalidParameterError(
                "Cache",
                "behavior",
                behavior,
                "behavior='override' needs a version: Cache(behavior='override', version_override='v1'); "
                "or use behavior='auto' to derive the version from the function source.",
            )
        if not isinstance(self.serialize, bool):
            raise InvalidParameterTypeError("Cache", "serialize", self.serialize, "Use True or False.")
        ignored: object = self.ignored_inputs
        if isinstance(ignored, str):
            ignored = (ignored,)
        elif isinstance(ignored, list):
            ignored = tuple(ignored)
        if not _is_identifier_tuple(ignored):
            raise param_error(
                "Cache",
                "ignored_inputs",
                self.ignored_inputs,
                "Use an input name or a tuple of input names, e.g. ignored_inputs=('timestamp',).",
                wrong_type=not isinstance(ignored, (str, tuple))
                or not all(isinstance(v, str) for v in ignored),
            )
        object.__setattr__(self, "ignored_inputs", ignored)
        if not isinstance(self.salt, str):
            raise InvalidParameterTypeError("Cache", "salt", self.salt, "Use a string, e.g. salt='v2'.")
        policies = self.policies
        if policies is not None:
            items = (policies,) if isinstance(policies, CachePolicy) else policies
            if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
                items = (items,)
            if not all(isinstance(p, CachePolicy) for p in items):
                raise InvalidParameterTypeError(
                    "Cache",
                    "policies",
                    policies,
                    "Use an object (or a list of objects) with a get_version(salt, params) -> str method.",
                )
            object.__setattr__(self, "policies", tuple(items))
        max_age = self.max_age
        if max_age is not None:
            if isinstance(max_age, bool) or not isinstance(max_age, (int, timedelta)):
                raise InvalidParameterTypeError(
                    "Cache",
                    "max_age",
                    max_age,
                    "max_age must be an int (seconds), timedelta, or None.",
                )
            if isinstance(max_age, int):
                max_age = timedelta(seconds=max_age)
                object.__setattr__(self, "max_age", max_age)
            if max_age < timedelta(0):
                raise InvalidParameterError(
                    "Cache",
                    "max_age",
                    max_age,
                    "max_age must be nonnegative: use a duration >= 0 (0 = no limit).",
                )

    def is_enabled(self) -> bool:
        """True unless caching is disabled."""
        return self.behavior != "disable"

    def reads_cache(self) -> bool:
        """Whether a call may be answered from the cache. ``"override"`` never is: as in the
        anchor, every call runs and its result replaces the entry under the pinned version."""
        return self.behavior == "auto"

    def get_ignored_inputs(self) -> tuple[str, ...]:
        """Input names left out of the cache key."""
        ignored = self.ignored_inputs
        return (ignored,) if isinstance(ignored, str) else ignored

    def get_policies(self) -> tuple[CachePolicy, ...]:
        """The version policies in use (the default :class:`FunctionBodyPolicy` when none given)."""
        policies = self.policies
        if policies is None:
            return (FunctionBodyPolicy(),)
        if isinstance(policies, CachePolicy):
            return (policies,)
        return tuple(policies)

    @property
    def max_age_seconds(self) -> float | None:
        """``max_age`` in seconds; None when unset."""
        if self.max_age is None:
            return None
        if isinstance(self.max_age, timedelta):
            return self.max_age.total_seconds()
        return float(self.max_age)

    def get_version(self, params: VersionParameters | None = None) -> str:
        """The cache version: ``""`` when disabled, ``version_override``, or a hash of the policies."""
        if not self.is_enabled():
            return ""
        if self.version_override is not None:
            return self.version_override
        if params is None:
            raise InvalidParameterError(
                "Cache.get_version",
                "params",
                params,
                "Version parameters must be provided when version_override is not set: pass "
                "VersionParameters(func=...).",
            )
        parts = [policy.get_version(self.salt, params) for policy in self.get_policies()]
        return hashlib.sha256("".join(parts).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for task specs."""
        return {
            "behavior": self.behavior,
            "version_override": self.version_override,
            "serialize": self.serialize,
            "ignored_inputs": list(self.get_ignored_inputs()),
            "salt": self.salt,
            "policies": [type(p).__qualname__ for p in self.get_policies()],
            "max_age_seconds": self.max_age_seconds,
        }


CacheRequest = CacheBehavior | bool | Cache | None


def normalize_cache(value: object, owner: str) -> Cache:
    """Turn a user's ``cache=`` value into a :class:`Cache`.

    Accepts ``"auto"``, ``"disable"`` (and aliases such as ``"off"``), True (auto), False or None
    (disabled), or a :class:`Cache`. ``"override"`` alone has no version, so it is rejected with the fix.
    """
    if isinstance(value, Cache):
        return value
    if value is None or value is False:
        return Cache(behavior="disable")
    if value is True:
        return Cache(behavior="auto")
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "override":
            raise InvalidParameterError(
                owner,
                "cache",
                value,
                "cache='override' needs a version: use cache=flyte.Cache(behavior='override', "
                "version_override='v1').",
            )
        if lowered == "auto":
            return Cache(behavior="auto")
        if lowered == "disable":
            return Cache(behavior="disable")
        behavior = _ALIASES.get(lowered)
        if behavior is not None:
            return Cache(behavior=behavior)
    raise param_error(
        owner,
        "cache",
        value,
        "Use 'auto', 'disable', True, False, None, or flyte.Cache(...) "
        "(e.g. flyte.Cache(behavior='override', version_override='v1')).",
        types=(str, bool),
    )


def cache_from_request(cache: object) -> Cache:
    """Anchor-compatible name for :func:`normalize_cache`."""
    return normalize_cache(cache, "cache")
