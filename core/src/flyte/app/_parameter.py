"""App parameters: named values an app reads at serve time (``flyte.app.get_parameter(name)``).

A parameter's value is a string, a ``flyte.io.File``/``Dir`` (its path), another app's endpoint
(:class:`AppEndpoint`), a run's output (:class:`RunOutput`) or an artifact (:class:`ArtifactValue`).
Locally the supervisor resolves the values when it starts the replicas and hands them over in
``FLYTE_APP_PARAMETERS`` (JSON) and, per parameter, in its ``env_var``. Run outputs and artifacts
need a control plane and fail with ``ParameterMaterializationError`` here.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from flyte._validate import check_bool, check_choice, check_str, param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError, ParameterMaterializationError

PARAMETERS_ENV = "FLYTE_APP_PARAMETERS"
ParameterKind = Literal["string", "file", "directory", "app_endpoint"]
_KINDS = ("string", "file", "directory", "app_endpoint")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(kw_only=True)
class AppEndpoint:
    """The URL of another app, resolved when this app starts."""

    type: Literal["string"] = "string"
    app_name: str
    public: bool = False

    def __post_init__(self) -> None:
        check_choice("AppEndpoint", "type", self.type, ("string",))
        if not isinstance(self.app_name, str) or not self.app_name:
            raise param_error("AppEndpoint", "app_name", self.app_name, "Name the app.", types=str)
        check_bool("AppEndpoint", "public", self.public)


@dataclass(kw_only=True)
class ArtifactValue:
    """A version of a named artifact (needs a control plane)."""

    type: ParameterKind | None = None
    name: str
    version: str | None = None
    project: str | None = None
    domain: str | None = None

    def __post_init__(self) -> None:
        owner = "ArtifactValue"
        check_choice(owner, "type", self.type, _KINDS, optional=True)
        check_str(owner, "name", self.name, nonempty=True, fix="Name the artifact.")
        for param in ("version", "project", "domain"):
            check_str(owner, param, getattr(self, param), optional=True, nonempty=True)


@dataclass(kw_only=True)
class RunOutput:
    """An output of a run of a deployed task (needs a control plane)."""

    type: ParameterKind
    run_name: str | None = None
    task_name: str | None = None
    task_version: str | None = None
    task_auto_version: Literal["latest", "current"] | None = None
    getter: tuple[Any, ...] = (0,)

    def __post_init__(self) -> None:
        owner = "RunOutput"
        check_choice(owner, "type", self.type, _KINDS)
        for param in ("run_name", "task_name", "task_version"):
            check_str(owner, param, getattr(self, param), optional=True, nonempty=True)
        check_choice(owner, "task_auto_version", self.task_auto_version, ("latest", "current"), optional=True)
        if not isinstance(self.getter, (tuple, list)):
            raise InvalidParameterTypeError(
                owner, "getter", self.getter, "Pass a tuple of keys/indexes into the output, e.g. (0,)."
            )
        if not self.getter:
            raise InvalidParameterError(owner, "getter", self.getter, "Name at least one key, e.g. (0,).")
        if (self.run_name is None) == (self.task_name is None):
            raise InvalidParameterError(
                "RunOutput", "run_name", self.run_name, "Set exactly one of run_name or task_name."
            )


@dataclass
class Parameter:
    """A named value given to an app; ``env_var`` also exposes it as that environment variable."""

    name: str
    value: Any = None
    type: ParameterKind | None = None
    env_var: str | None = None
    download: bool = True
    mount: str | None = None
    ignore_patterns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = f"Parameter({self.name!r})"
        if not isinstance(self.name, str) or not self.name:
            raise param_error("Parameter", "name", self.name, "Give the parameter a name.", types=str)
        if self.type is not None and self.type not in _KINDS:
            raise param_error(owner, "type", self.type, f"Use one of {list(_KINDS)} or None.", types=str)
        if self.env_var is not None and not _ENV_NAME_RE.match(str(self.env_var)):
            raise param_error(
                owner,
                "env_var",
                self.env_var,
                "Use a shell variable name: letters, digits, '_', e.g. MODEL_PATH.",
                types=str,
            )
        check_bool(owner, "download", self.download)
        check_str(owner, "mount", self.mount, optional=True, nonempty=True)
        if self.mount is not None and not self.mount.startswith("/"):
            raise InvalidParameterError(
                owner, "mount", self.mount, "Use an absolute path in the app's container, e.g. '/models'."
            )
        if isinstance(self.ignore_patterns, str) or not isinstance(self.ignore_patterns, (list, tuple)):
            raise InvalidParameterTypeError(
                owner,
                "ignore_patterns",
                self.ignore_patterns,
                "Pass a list of glob patterns, e.g. ['*.tmp'].",
            )
        for pattern in self.ignore_patterns:
            check_str(owner, "ignore_patterns", pattern, nonempty=True)
        if self.type is None:
            self.type = _kind_of(self.value)

    def resolve(self) -> str:
        """The value as the app sees it (a string); called by the supervisor when replicas start."""
        v = self.value
        if v is None or isinstance(v, str):
            return "" if v is None else v
        if isinstance(v, AppEndpoint):
            from flyte.app._registry import get_endpoint

            return get_endpoint(v.app_name)
        if isinstance(v, (RunOutput, ArtifactValue)):
            raise ParameterMaterializationError(
                f"Parameter {self.name!r}: {type(v).__name__} values need a Flyte control plane; locally "
                "pass a string, a flyte.io.File/Dir or an AppEndpoint."
            )
        path = getattr(v, "path", None)
        if isinstance(path, str):
            from flyte._runtime.store import uri_to_path

            return uri_to_path(path)
        return str(v)


def _kind_of(value: Any) -> ParameterKind:
    if isinstance(value, AppEndpoint):
        return "app_endpoint"
    if isinstance(value, (RunOutput, ArtifactValue)) and value.type is not None:
        return value.type
    name = type(value).__name__
    return "file" if name == "File" else "directory" if name == "Dir" else "string"


def check_parameters(owner: str, params: Any) -> list[Parameter]:
    """``AppEnvironment(parameters=...)``: Parameters with unique names."""
    if not isinstance(params, (list, tuple)) or not all(isinstance(p, Parameter) for p in params):
        raise InvalidParameterTypeError(
            owner, "parameters", params, "Use a list of flyte.app.Parameter(...)."
        )
    names = [p.name for p in params]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidParameterError(owner, "parameters", dup, "Parameter names must be unique.")
    return list(params)


def parameter_env(params: list[Parameter]) -> dict[str, str]:
    """The environment a replica gets: all values as JSON, plus each ``env_var``."""
    values = {p.name: p.resolve() for p in params}
    env = {PARAMETERS_ENV: json.dumps(values)}
    for p in params:
        if p.env_var:
            env[p.env_var] = values[p.name]
    return env


def get_parameter(name: str) -> str:
    """The value of the app parameter ``name`` (inside a served app's replica)."""
    raw = os.environ.get(PARAMETERS_ENV)
    values: dict[str, str] = json.loads(raw) if raw else {}
    if name not in values:
        known = sorted(values) or "none (not inside a served app, or it declares no parameters)"
        raise InvalidParameterError("flyte.app.get_parameter", "name", name, f"Known parameters: {known}.")
    return values[name]
