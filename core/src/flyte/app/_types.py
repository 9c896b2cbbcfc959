"""Value types of an app: its port, scaling, domain, links and timeouts, validated when built."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from flyte._validate import check_choice, check_str, param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

__all__ = ["INVALID_APP_PORTS", "Domain", "Link", "Port", "Scaling", "Timeouts"]

# Ports the platform's sidecars use (the anchor's list); an app cannot listen on them.
INVALID_APP_PORTS: tuple[int, ...] = (8012, 8022, 8112, 9090, 9091)
_PORT_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_REQUEST_TIMEOUT = timedelta(hours=1)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_port(owner: str, param: str, value: object) -> int:
    """An app port: an int in 1-65535 that is not reserved."""
    reserved = ", ".join(str(p) for p in INVALID_APP_PORTS)
    if not _is_int(value) or not 1 <= value <= 65535:  # type: ignore[operator]
        raise param_error(
            owner, param, value, f"Use an int from 1 to 65535 (not {reserved}), e.g. 8080.", types=int
        )
    assert isinstance(value, int)
    if value in INVALID_APP_PORTS:
        raise InvalidParameterError(
            owner, param, value, f"Ports {reserved} are reserved by the platform; use another, e.g. 8080."
        )
    return value


def _seconds(owner: str, param: str, value: object, accepted: str) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        delta = value
    elif _is_int(value) or (isinstance(value, float) and value == value):
        delta = timedelta(seconds=float(value))  # type: ignore[arg-type]
    else:
        raise InvalidParameterTypeError(owner, param, value, accepted)
    if delta < timedelta(0):
        raise InvalidParameterError(owner, param, value, accepted)
    return delta


@dataclass(frozen=True)
class Port:
    """The port the app listens on, with an optional protocol name (``"http1"``, ``"h2c"``)."""

    port: int
    name: str | None = None

    def __post_init__(self) -> None:
        check_port("Port", "port", self.port)
        if self.name is not None and (
            not isinstance(self.name, str) or len(self.name) > 15 or not _PORT_NAME_RE.match(self.name)
        ):
            raise param_error(
                "Port",
                "name",
                self.name,
                "Use None or up to 15 lowercase letters, digits or '-', e.g. 'http1' or 'h2c'.",
                types=str,
            )

    def to_dict(self) -> dict[str, Any]:
        return {"port": self.port, "name": self.name}


@dataclass(frozen=True)
class Link:
    """A link shown next to the app (relative to the app's URL when ``is_relative``)."""

    path: str
    title: str
    is_relative: bool = False

    def __post_init__(self) -> None:
        for param in ("path", "title"):
            value = getattr(self, param)
            if not isinstance(value, str) or not value.strip():
                raise param_error("Link", param, value, "Use a non-empty string.", types=str)
        if not isinstance(self.is_relative, bool):
            raise InvalidParameterTypeError("Link", "is_relative", self.is_relative, "Use True or False.")

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "title": self.title, "is_relative": self.is_relative}


@dataclass
class Scaling:
    """How many replicas run and when more are added.

    - ``replicas``: an int for a fixed count, or ``(min, max)``; ``min=0`` scales to zero when idle
      (the first request starts a replica). Default ``(0, 1)``.
    - ``metric``: ``Scaling.Concurrency(n)`` (add a replica when more than ``n`` requests per replica
      are in flight) or ``Scaling.RequestRate(n)`` (more than ``n`` requests per second per replica).
    - ``scaledown_after``: idle time (seconds or ``timedelta``) before a replica above ``min`` stops.
    """

    @dataclass(frozen=True)
    class Concurrency:
        """Scale up when in-flight requests per replica exceed ``val``."""

        val: int

        def __post_init__(self) -> None:
            if not _is_int(self.val) or self.val < 1:
                raise param_error(
                    "Scaling.Concurrency", "val", self.val, "Use an int of at least 1, e.g. 10.", types=int
                )

    @dataclass(frozen=True)
    class RequestRate:
        """Scale up when requests per second per replica exceed ``val``."""

        val: int

        def __post_init__(self) -> None:
            if not _is_int(self.val) or self.val < 1:
                raise param_error(
                    "Scaling.RequestRate", "val", self.val, "Use an int of at least 1, e.g. 100.", types=int
                )

    replicas: int | tuple[int, int] = (0, 1)
    metric: Scaling.Concurrency | Scaling.RequestRate | None = None
    scaledown_after: int | float | timedelta | None = None

    def __post_init__(self) -> None:
        accepted = (
            "Use an int for a fixed count (e.g. 2) or a (min, max) tuple with 0 <= min <= max and "
            "max >= 1, e.g. (1, 3); (0, n) scales to zero when idle."
        )
        value = self.replicas
        if _is_int(value):
            assert isinstance(value, int)
            if value < 1:
                raise InvalidParameterError(
                    "Scaling", "replicas", value, f"A fixed count must be at least 1. {accepted}"
                )
            pair = (value, value)
        elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
            pair = (int(value[0]), int(value[1]))
            if pair[0] < 0 or pair[1] < 1:
                raise InvalidParameterError("Scaling", "replicas", value, accepted)
            if pair[0] > pair[1]:
                raise InvalidParameterError(
                    "Scaling",
                    "replicas",
                    value,
                    f"min must not exceed max; swap them, e.g. {(pair[1], pair[0])!r}. {accepted}",
                )
        else:
            raise InvalidParameterTypeError("Scaling", "replicas", value, accepted)
        self.replicas = pair
        if self.metric is not None and not isinstance(
            self.metric, (Scaling.Concurrency, Scaling.RequestRate)
        ):
            raise InvalidParameterTypeError(
                "Scaling",
                "metric",
                self.metric,
                "Use Scaling.Concurrency(n), Scaling.RequestRate(n) or None.",
            )
        self.scaledown_after = _seconds(
            "Scaling",
            "scaledown_after",
            self.scaledown_after,
            "Use a non-negative number of seconds or a timedelta, e.g. 60.",
        )

    def get_replicas(self) -> tuple[int, int]:
        """``(min, max)`` replicas."""
        assert isinstance(self.replicas, tuple)
        return self.replicas

    @property
    def min_replicas(self) -> int:
        return self.get_replicas()[0]

    @property
    def max_replicas(self) -> int:
        return self.get_replicas()[1]

    def scaledown_seconds(self) -> float | None:
        d = self.scaledown_after
        return d.total_seconds() if isinstance(d, timedelta) else None

    def to_dict(self) -> dict[str, Any]:
        metric: dict[str, int] | None = None
        if isinstance(self.metric, Scaling.Concurrency):
            metric = {"concurrency": self.metric.val}
        elif isinstance(self.metric, Scaling.RequestRate):
            metric = {"request_rate": self.metric.val}
        return {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "metric": metric,
            "scaledown_after_seconds": self.scaledown_seconds(),
        }


@dataclass
class Timeouts:
    """Timeouts of the app: ``request`` (seconds or ``timedelta``, at most one hour)."""

    request: int | float | timedelta | None = None

    def __post_init__(self) -> None:
        accepted = "Use a number of seconds or a timedelta between 0 and 3600 (one hour), e.g. 60."
        self.request = _seconds("Timeouts", "request", self.request, accepted)
        if self.request is not None and self.request > _MAX_REQUEST_TIMEOUT:
            raise InvalidParameterError("Timeouts", "request", self.request, accepted)

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        return {"request_seconds": r.total_seconds() if isinstance(r, timedelta) else None}


@dataclass
class Domain:
    """Where the app is reachable when deployed: a ``subdomain`` and/or a ``custom_domain``."""

    subdomain: str | Subdomain | None = None
    custom_domain: str | None = None

    def __post_init__(self) -> None:
        if (
            self.subdomain is not None
            and not isinstance(self.subdomain, Subdomain)
            and (
                not isinstance(self.subdomain, str)
                or len(self.subdomain) > 63
                or not _DNS_LABEL_RE.match(self.subdomain)
            )
        ):
            raise param_error(
                "Domain",
                "subdomain",
                self.subdomain,
                "Use None or a DNS label: 1-63 lowercase letters, digits or '-', e.g. 'my-api'.",
                types=str,
            )
        if self.custom_domain is not None and (
            not isinstance(self.custom_domain, str)
            or "." not in self.custom_domain
            or re.search(r"\s|/|:", self.custom_domain)
        ):
            raise param_error(
                "Domain",
                "custom_domain",
                self.custom_domain,
                "Use None or a host name without scheme or path, e.g. 'api.example.com'.",
                types=str,
            )

    def resolved_subdomain(self, app: Any) -> str | None:
        """The subdomain string; a :class:`Subdomain` is resolved for the current project/domain."""
        if isinstance(self.subdomain, Subdomain):
            return self.subdomain.resolve(app, _default_sctx())
        return self.subdomain

    def to_dict(self, app: Any = None) -> dict[str, Any]:
        """JSON-able; a :class:`Subdomain` computed from a function needs the ``app`` it is for."""
        sub = self.subdomain
        if isinstance(sub, Subdomain) and (app is not None or sub.function is None):
            sub = self.resolved_subdomain(app)
        elif isinstance(sub, Subdomain):
            sub = None
        return {"subdomain": sub, "custom_domain": self.custom_domain}


@dataclass(frozen=True)
class Subdomain:
    """A subdomain computed when the app is deployed, once the project and domain are known.

    ``Subdomain.from_app_name(name)`` gives ``<name>-<hash of project-domain>`` (``"hash"``) or
    ``<name>-<project>-<domain>`` (``"default"``); ``Subdomain.from_function(f)`` calls ``f(app, sctx)``.
    """

    app_name: str | None = None
    project_domain_suffix: Literal["hash", "default"] = "hash"
    function: Callable[[Any, Any], str] | None = None

    def __post_init__(self) -> None:
        owner = "Subdomain"
        check_str(owner, "app_name", self.app_name, optional=True)
        if self.app_name is not None and not _DNS_LABEL_RE.match(self.app_name):
            raise InvalidParameterError(
                owner, "app_name", self.app_name, "Use a DNS label: lowercase letters, digits and '-'."
            )
        if self.function is not None and not callable(self.function):
            raise InvalidParameterTypeError(
                owner, "function", self.function, "Pass a function (app, sctx) -> subdomain string."
            )
        check_choice(owner, "project_domain_suffix", self.project_domain_suffix, ("hash", "default"))
        if (self.app_name is None) == (self.function is None):
            raise InvalidParameterError(
                "Subdomain", "app_name", self.app_name, "Set exactly one of app_name or function."
            )
        if self.project_domain_suffix not in ("hash", "default"):
            raise InvalidParameterError(
                "Subdomain", "project_domain_suffix", self.project_domain_suffix, "Use 'hash' or 'default'."
            )

    @classmethod
    def from_app_name(
        cls, app_name: str, project_domain_suffix: Literal["hash", "default"] = "hash"
    ) -> Subdomain:
        return cls(app_name=app_name, project_domain_suffix=project_domain_suffix)

    @classmethod
    def from_function(cls, function: Callable[[Any, Any], str]) -> Subdomain:
        return cls(function=function)

    def resolve(self, app: Any, sctx: Any) -> str:
        """The subdomain for ``app`` deployed with serialisation context ``sctx`` (project, domain)."""
        if self.function is not None:
            return self.function(app, sctx)
        assert self.app_name is not None
        if self.project_domain_suffix == "default":
            return f"{self.app_name}-{sctx.project}-{sctx.domain}"
        import hashlib

        digest = hashlib.sha256(f"{sctx.project}-{sctx.domain}".encode()).hexdigest()[:8]
        return f"{self.app_name}-{digest}"


def _default_sctx() -> Any:
    from flyte._initialize import current_domain, current_project
    from flyte._serialization import SerializationContext

    return SerializationContext(project=current_project(), domain=current_domain())
