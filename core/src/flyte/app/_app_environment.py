"""AppEnvironment: a long-running HTTP service with its own image, resources, port and scaling."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import shlex
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from flyte._environment_base import Environment
from flyte._resources import Resources
from flyte._secret import Secret, normalize_secrets
from flyte._validate import param_error
from flyte.app._parameter import Parameter, check_parameters
from flyte.app._types import Domain, Link, Port, Scaling, Timeouts, check_port
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

if TYPE_CHECKING:
    from typing import Self

    from flyte._image import Image

__all__ = ["AppEnvironment", "apps"]

F = TypeVar("F", bound=Callable[..., Any])

# A Kubernetes Service name (DNS-1035 label): the app's name is also its Service's and its host's.
_APP_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SDK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_all_apps: weakref.WeakValueDictionary[str, AppEnvironment] = weakref.WeakValueDictionary()


def _validate_name(name: Any) -> str:
    if not isinstance(name, str) or not _APP_NAME_RE.match(name) or len(name) > 63:
        hint = ""
        if isinstance(name, str) and name:
            fixed = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
            if fixed and not fixed[0].isalpha():
                fixed = f"app-{fixed}"
            hint = f" e.g. {fixed[:63]!r}" if fixed else ""
        raise param_error(
            "AppEnvironment",
            "name",
            name,
            "Use 1-63 lowercase letters, digits or '-', starting with a letter and ending with a letter "
            f"or digit (it becomes the app's host and Service name),{hint or ' e.g. my-api'}.",
            types=str,
        )
    return name


def _command_list(owner: str, param: str, value: Any) -> list[str] | None:
    accepted = f"Use a list of strings or one shell-style string, e.g. {param}=['python', 'server.py']."
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parts = shlex.split(value)
        except ValueError as e:
            raise InvalidParameterError(owner, param, value, f"{e}. {accepted}") from None
        if not parts:
            raise InvalidParameterError(owner, param, value, accepted)
        return parts
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidParameterTypeError(owner, param, value, accepted)


def _caller_file() -> str | None:
    """The source file of the first frame outside the SDK: the module that defines the app."""
    frame = inspect.currentframe()
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<") and not os.path.abspath(filename).startswith(_SDK_DIR + os.sep):
            return os.path.abspath(filename)
        frame = frame.f_back
    return None


@dataclass(kw_only=True)
class AppEnvironment(Environment):
    """A long-running service (API, model server, dashboard) that answers HTTP requests.

    Unlike a task, which runs to completion, an app stays up and serves many requests. Run it with
    ``@app.server`` (a function that returns an ASGI app such as Starlette or FastAPI, or serves by
    itself on ``flyte.app.ctx().port``) or with ``command``/``args`` (any program that listens on
    ``$PORT``). ``flyte serve app.py`` runs it locally; ``flyte serialize app.py`` writes its
    Deployment/Service spec; tasks reach it by name with ``app.endpoint``.
    """

    name: str
    image: Image | str | Literal["auto"] | None = "auto"
    resources: Resources | None = None
    env_vars: Mapping[str, str] | None = None
    secrets: Any = None
    depends_on: list[Any] = field(default_factory=list)
    description: str | None = None
    type: str | None = None
    port: int | Port = 8080
    args: list[str] | str | None = None
    command: list[str] | str | None = None
    requires_auth: bool = True
    scaling: Scaling = field(default_factory=Scaling)
    domain: Domain | None = field(default_factory=Domain)
    links: list[Link] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    cluster_pool: str = "default"
    cluster: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        from flyte._environment import TaskEnvironment
        from flyte._environment_base import check_common_fields
        from flyte._image import Image
        from flyte._task import validate_env_vars
        from flyte._validate import check_str

        _validate_name(self.name)
        owner = f"AppEnvironment(name={self.name!r})"
        check_common_fields(self, owner)
        check_str(owner, "cluster", self.cluster, optional=True, nonempty=True)
        image = self.image
        if not (image is None or isinstance(image, Image)) and (
            not isinstance(image, str) or not image or re.search(r"\s", image)
        ):
            raise InvalidParameterError(
                owner,
                "image",
                image,
                "Use 'auto', an image reference such as 'python:3.12-slim', or a flyte.Image.",
            )
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise InvalidParameterError(
                owner, "resources", self.resources, "Use flyte.Resources(cpu=..., memory=..., gpu=...)."
            )
        self.env_vars = validate_env_vars(self.env_vars, owner)
        self._secrets: tuple[Secret, ...] = normalize_secrets(self.secrets, owner)
        if self.type is not None and (not isinstance(self.type, str) or not self.type.strip()):
            raise param_error(owner, "type", self.type, "Use None or a name such as 'fastapi'.", types=str)
        if isinstance(self.port, Port):
            pass
        else:
            self.port = Port(port=check_port(owner, "port", self.port))
        self._args = _command_list(owner, "args", self.args)
        self._command = _command_list(owner, "command", self.command)
        if not isinstance(self.requires_auth, bool):
            raise InvalidParameterTypeError(owner, "requires_auth", self.requires_auth, "Use True or False.")
        if not isinstance(self.scaling, Scaling):
            raise InvalidParameterTypeError(
                owner,
                "scaling",
                self.scaling,
                "Use flyte.app.Scaling(replicas=(min, max), ...), e.g. Scaling(replicas=(1, 3)).",
            )
        if self.domain is not None and not isinstance(self.domain, Domain):
            raise InvalidParameterTypeError(
                owner,
                "domain",
                self.domain,
                "Use None or flyte.app.Domain(subdomain=..., custom_domain=...).",
            )
        if not isinstance(self.links, (list, tuple)) or not all(isinstance(x, Link) for x in self.links):
            raise InvalidParameterTypeError(
                owner, "links", self.links, "Use a list of flyte.app.Link(path=..., title=...)."
            )
        self.links = list(self.links)
        self.parameters = check_parameters(owner, self.parameters)
        if not isinstance(self.cluster_pool, str) or not self.cluster_pool.strip():
            raise param_error(owner, "cluster_pool", self.cluster_pool, "Use a non-empty name.", types=str)
        if not isinstance(self.timeouts, Timeouts):
            raise InvalidParameterTypeError(
                owner, "timeouts", self.timeouts, "Use flyte.app.Timeouts(request=seconds)."
            )
        if not isinstance(self.depends_on, (list, tuple)) or not all(
            isinstance(d, (TaskEnvironment, AppEnvironment)) for d in self.depends_on
        ):
            raise InvalidParameterTypeError(
                owner,
                "depends_on",
                self.depends_on,
                "Use a list of TaskEnvironment or AppEnvironment objects.",
            )
        self.depends_on = list(self.depends_on)
        self._server: Callable[..., Any] | None = None
        self._on_startup: Callable[..., Any] | None = None
        self._on_shutdown: Callable[..., Any] | None = None
        self._source_file: str | None = _caller_file()
        _all_apps[self.name] = self

    # ---- entry points ------------------------------------------------------------------------------
    def _hook(self, kind: str, fn: Any) -> None:
        if not callable(fn):
            raise InvalidParameterError(
                f"@{self.name}.{kind}", "fn", fn, "Decorate a function (sync or async)."
            )

    def server(self, fn: F) -> F:
        """Decorate the app's entry point.

        The function (sync or async, no arguments) either returns an ASGI app (Starlette, FastAPI...),
        which is served with uvicorn on the replica's port, or runs a server itself on
        ``flyte.app.ctx().port`` and returns when it stops. An ASGI app object may be passed directly.
        """
        self._hook("server", fn)
        if self._command is not None:
            raise InvalidParameterError(
                f"@{self.name}.server",
                "command",
                self.command,
                "An app runs either a command or an @server function: drop command= (args= may stay).",
            )
        self._server = fn
        return fn

    def on_startup(self, fn: F) -> F:
        """Decorate a function (sync or async) run in each replica before the server starts."""
        self._hook("on_startup", fn)
        self._on_startup = fn
        return fn

    def on_shutdown(self, fn: F) -> F:
        """Decorate a function (sync or async) run in each replica after its server stopped."""
        self._hook("on_shutdown", fn)
        self._on_shutdown = fn
        return fn

    # ---- accessors ---------------------------------------------------------------------------------
    def get_port(self) -> Port:
        """The port to listen on: the declared one, except inside a local replica of this app, where
        it is the replica's own port (the local supervisor listens on the declared port in front of
        all replicas), so a ``@server`` that binds ``get_port().port`` works unchanged."""
        assert isinstance(self.port, Port)
        if os.environ.get("FLYTE_APP_NAME") == self.name:
            served = os.environ.get("FLYTE_APP_PORT", "")
            if served.isdigit() and 0 < int(served) <= 65535:
                return Port(port=int(served), name=self.port.name)
        return self.port

    @property
    def endpoint(self) -> str:
        """The app's URL: where ``flyte serve`` runs it now (same FLYTE_HOME), or its cluster URL."""
        from flyte.app._registry import get_endpoint

        return get_endpoint(self.name)

    @property
    def secret_list(self) -> tuple[Secret, ...]:
        """The secrets as :class:`flyte.Secret` objects."""
        return self._secrets

    def container_args(self, sctx: Any = None) -> list[str]:
        """``args`` as a list."""
        return list(self._args or [])

    def container_cmd(self, sctx: Any = None) -> list[str]:
        """The container command: ``command`` when set, else the Python replica entry point."""
        if self._command is not None:
            return list(self._command)
        return ["python", "-m", "flyte.app._replica", self.source_path(), self.name]

    def source_path(self) -> str:
        """The defining file, relative to the working directory when below it."""
        path = self._source_file or ""
        if not path:
            return ""
        cwd = os.getcwd()
        if path.startswith(cwd + os.sep):
            return os.path.relpath(path, cwd)
        return os.path.basename(path)

    def spec(self) -> dict[str, Any]:
        """The JSON-able app spec (Deployment, Service and autoscaler included)."""
        from flyte.app._spec import build_app_spec

        return build_app_spec(self)

    def clone_with(self, name: str, **overrides: Any) -> Self:
        """A new app that inherits everything (hooks included) except ``overrides``."""
        allowed = {f.name for f in dataclasses.fields(self) if f.init and f.name != "name"}
        for key in overrides:
            if key not in allowed:
                raise InvalidParameterError(
                    f"AppEnvironment({self.name!r}).clone_with()",
                    key,
                    overrides[key],
                    f"Accepted settings: {sorted(allowed)}.",
                )
        base = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        base.update(overrides)
        base["name"] = name
        new = type(self)(**base)
        new._source_file = self._source_file
        if self._server is not None and new._command is None:
            new._server = self._server
        new._on_startup = self._on_startup
        new._on_shutdown = self._on_shutdown
        return new


def apps() -> Mapping[str, AppEnvironment]:
    """Apps defined in this process, by name."""
    return dict(_all_apps)


def find_app(name: str, module: Any = None) -> AppEnvironment | None:
    """The app called ``name``: by app name or variable name in ``module``, else any defined app."""
    if module is not None:
        for key, value in vars(module).items():
            if isinstance(value, AppEnvironment) and (value.name == name or key == name):
                return value
    return _all_apps.get(name)
