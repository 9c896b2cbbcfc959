"""Container images as immutable descriptions: a base plus an ordered tuple of layers.

Nothing is built here. ``Image.from_*`` picks a base and each ``with_*`` returns a *new* Image with
one layer appended, so images can be shared between environments and compared or hashed safely. The
``uri`` is the base image's URI when nothing was added, otherwise ``[registry/]name:tag`` where the
tag is a hash of the base and the layers, so the same description always gets the same URI.

Definition-time checks validate names and shapes only; referenced local files are checked by
:meth:`Image.validate` (called when building), because image definitions also run inside the
container, where the developer's files are absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from flyte._secret import Secret, SecretRequest, normalize_secrets
from flyte._validate import param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

__all__ = [
    "AptPackages",
    "Architecture",
    "CodeBundleLayer",
    "Commands",
    "CopyConfig",
    "DockerIgnore",
    "Env",
    "Image",
    "Layer",
    "PipPackages",
    "PoetryProject",
    "Requirements",
    "UVProject",
    "UVScript",
    "WorkDir",
]

Architecture = Literal["linux/amd64", "linux/arm64"]
_ARCHITECTURES: tuple[str, ...] = ("linux/amd64", "linux/arm64")
_DEFAULT_PLATFORMS: tuple[Architecture, ...] = ("linux/amd64", "linux/arm64")
_BASE_REGISTRY = "ghcr.io/flyteorg"
_DEFAULT_IMAGE_NAME = "flyte"
_SUPPORTED_PYTHON: tuple[tuple[int, int], ...] = ((3, 10), (3, 11), (3, 12), (3, 13), (3, 14))
_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CREATE_FLYTE_USER_CMD = (
    "if ! id -u flyte >/dev/null 2>&1; then useradd --create-home --shell /bin/bash flyte; fi && "
    "mkdir -p /home/flyte && chown -R flyte:flyte /home/flyte"
)

PathLike = str | Path
InstallMode = Literal["dependencies_only", "install_project"]


_REF_RE = re.compile(
    r"^(?:(?P<domain>(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}))?$"
)


def check_image_ref(value: object, owner: str) -> None:
    """A string image must be a container image reference (``[registry/]name[:tag][@digest]``, the
    name in lowercase) or ``"auto"``: a typo fails where the task is defined, not when it runs."""
    if not isinstance(value, str) or value == "auto":
        return
    m = _REF_RE.match(value)
    domain = m.group("domain") if m else None
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        m = None  # as docker reads it: a first part without '.' or ':' is a (lowercase) name, not a host
    if m is None or len(value) > 255:
        from flyte.errors import InvalidParameterError

        raise InvalidParameterError(
            owner,
            "image",
            value,
            "Use a container image reference such as 'python:3.12-slim' or 'ghcr.io/org/app:1.0' "
            "(lowercase name, optional :tag or @sha256:digest), a flyte.Image, or 'auto'.",
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, Secret):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def _text(owner: str, param: str, value: object, accepted: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise param_error(owner, param, value, accepted, types=str)
    return value


def _str_tuple(owner: str, param: str, value: object, accepted: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (tuple, list)) or not all(isinstance(v, str) and v.strip() for v in items):
        raise param_error(
            owner,
            param,
            value,
            accepted,
            wrong_type=not isinstance(items, (tuple, list)) or not all(isinstance(v, str) for v in items),
        )
    return tuple(items)


def _path(owner: str, param: str, value: object) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value.strip():
        return Path(value)
    raise InvalidParameterTypeError(owner, param, value, "Use a path (str or pathlib.Path).")


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One build step. Subclasses are frozen dataclasses; ``to_dict`` describes them for hashing/specs."""

    kind: ClassVar[str] = "layer"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description: the layer kind and its fields."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            out[f.name] = _jsonable(getattr(self, f.name))
        return out

    def local_paths(self) -> tuple[Path, ...]:
        """Local files this layer needs at build time."""
        return ()


@dataclass(frozen=True)
class _PipOptions(Layer):
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    pre: bool = False
    extra_args: str | None = None
    secret_mounts: tuple[Secret, ...] = ()

    def pip_install_args(self) -> list[str]:
        """The pip/uv flags these options stand for."""
        args: list[str] = []
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        if self.pre:
            args.append("--pre")
        if self.extra_args:
            args += self.extra_args.split()
        return args


@dataclass(frozen=True)
class PipPackages(_PipOptions):
    """``pip install`` of the named packages."""

    kind: ClassVar[str] = "pip_packages"
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Requirements(_PipOptions):
    """``pip install -r`` of a requirements file."""

    kind: ClassVar[str] = "requirements"
    file: Path = Path("requirements.txt")

    def local_paths(self) -> tuple[Path, ...]:
        return (self.file,)


@dataclass(frozen=True)
class UVProject(_PipOptions):
    """Install a uv project (``pyproject.toml`` + ``uv.lock``)."""

    kind: ClassVar[str] = "uv_project"
    pyproject: Path = Path("pyproject.toml")
    uvlock: Path | None = None
    project_install_mode: InstallMode = "dependencies_only"

    def local_paths(self) -> tuple[Path, ...]:
        return (self.pyproject,) + ((self.uvlock,) if self.uvlock is not None else ())


@dataclass(frozen=True)
class UVScript(_PipOptions):
    """Install the dependencies declared in a uv script's inline metadata."""

    kind: ClassVar[str] = "uv_script"
    script: Path = Path("script.py")

    def local_paths(self) -> tuple[Path, ...]:
        return (self.script,)


@dataclass(frozen=True)
class PoetryProject(Layer):
    """Install a Poetry project (``pyproject.toml`` + ``poetry.lock``)."""

    kind: ClassVar[str] = "poetry_project"
    pyproject: Path
    poetry_lock: Path
    extra_args: str | None = None
    project_install_mode: InstallMode = "dependencies_only"
    secret_mounts: tuple[Secret, ...] = ()

    def local_paths(self) -> tuple[Path, ...]:
        return (self.pyproject, self.poetry_lock)


@dataclass(frozen=True)
class AptPackages(Layer):
    """``apt-get install`` of system packages."""

    kind: ClassVar[str] = "apt_packages"
    packages: tuple[str, ...]
    secret_mounts: tuple[Secret, ...] = ()


@dataclass(frozen=True)
class Commands(Layer):
    """Shell commands run in order (each a ``RUN`` line, without the ``RUN``)."""

    kind: ClassVar[str] = "commands"
    commands: tuple[str, ...]
    secret_mounts: tuple[Secret, ...] = ()


@dataclass(frozen=True)
class Env(Layer):
    """Environment variables set in the image."""

    kind: ClassVar[str] = "env"
    env_vars: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_dict(cls, envs: Mapping[str, str]) -> Env:
        """An Env layer from a mapping (order kept)."""
        return cls(env_vars=tuple((k, v) for k, v in envs.items()))


@dataclass(frozen=True)
class WorkDir(Layer):
    """The working directory of the image."""

    kind: ClassVar[str] = "workdir"
    workdir: str


@dataclass(frozen=True)
class CopyConfig(Layer):
    """Copy a local file (``path_type=0``) or folder (``path_type=1``) into the image."""

    kind: ClassVar[str] = "copy"
    path_type: Literal[0, 1]
    src: Path
    dst: str = "."

    def local_paths(self) -> tuple[Path, ...]:
        return (self.src,)


@dataclass(frozen=True)
class DockerIgnore(Layer):
    """A ``.dockerignore`` applied to the build context."""

    kind: ClassVar[str] = "dockerignore"
    path: str


@dataclass(frozen=True)
class CodeBundleLayer(Layer):
    """Bake the project's source into the image when runs do not ship a code bundle."""

    kind: ClassVar[str] = "code_bundle"
    copy_style: Literal["loaded_modules", "all"] = "loaded_modules"
    dst: str = "."


@dataclass(frozen=True)
class LocalPackages(Layer):
    """Install distributions built from this checkout (wheels under ``dist/``): the SDK or plugins
    under development, so the image runs the code on this machine rather than a release."""

    kind: ClassVar[str] = "local_packages"
    packages: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Image
# --------------------------------------------------------------------------------------------------

_IMAGE_REFS: dict[str, str] = {}


def set_image_refs(images: Mapping[str, str] | None) -> None:
    """The named images :meth:`Image.from_ref_name` resolves to (``flyte.init(images=...)``)."""
    if images is not None and (
        not isinstance(images, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in images.items())
    ):
        raise InvalidParameterError("flyte.init", "images", images, "Use a dict of names to image URIs.")
    for uri in (images or {}).values():
        check_image_ref(uri, "flyte.init")
    _IMAGE_REFS.clear()
    _IMAGE_REFS.update(images or {})


_TOKEN = object()


def _detect_python_version() -> tuple[int, int]:
    return sys.version_info.major, sys.version_info.minor


def _flyte_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("flyte-core", "flyte"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "0.0.0"


def _python_version(owner: str, value: object) -> tuple[int, int]:
    if value is None:
        return _detect_python_version()
    parsed: object = value
    if isinstance(value, str):
        parts = value.split(".")
        parsed = tuple(int(p) for p in parts) if all(re.fullmatch(r"[0-9]+", p) for p in parts) else value
    if isinstance(parsed, tuple) and len(parsed) == 2 and parsed in _SUPPORTED_PYTHON:
        return (int(parsed[0]), int(parsed[1]))
    supported = ", ".join(f"({a}, {b})" for a, b in _SUPPORTED_PYTHON)
    raise param_error(
        owner, "python_version", value, f"Use one of {supported}, e.g. (3, 12).", types=(tuple, list, str)
    )


def _platform(owner: str, value: object) -> tuple[Architecture, ...] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (tuple, list)) or not items or not all(v in _ARCHITECTURES for v in items):
        raise param_error(
            owner,
            "platform",
            value,
            "Use 'linux/amd64', 'linux/arm64', or a tuple of them.",
            wrong_type=not isinstance(items, (tuple, list)) or not all(isinstance(v, str) for v in items),
        )
    return tuple(items)


def _registry(owner: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or re.search(r"\s|://", value) or value.endswith("/"):
        raise param_error(
            owner,
            "registry",
            value,
            "Use a registry host and optional path without scheme, e.g. 'ghcr.io/my-org'.",
            types=str,
        )
    return value


def _name(owner: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise param_error(
            owner,
            "name",
            value,
            "Use a lowercase image repository name (letters, digits, '.', '_', '-', '/'), e.g. 'my-image'.",
            types=str,
        )
    return value


def _registry_secret(owner: str, value: object) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    if isinstance(value, str):
        try:
            return Secret(key=value)
        except InvalidParameterError as e:
            raise type(e)(owner, "registry_secret", value, e.accepted) from None
    raise InvalidParameterTypeError(
        owner, "registry_secret", value, "Use a secret name or flyte.Secret(...)."
    )


def _pip_kwargs(
    owner: str,
    index_url: str | None,
    extra_index_urls: str | Sequence[str] | None,
    pre: bool,
    extra_args: str | None,
    secret_mounts: SecretRequest | None,
) -> dict[str, Any]:
    if index_url is not None:
        _text(owner, "index_url", index_url, "Use a URL such as 'https://pypi.org/simple'.")
    urls = (
        ()
        if extra_index_urls is None
        else _str_tuple(owner, "extra_index_urls", extra_index_urls, "Use a URL or a list of URLs.")
    )
    if not isinstance(pre, bool):
        raise InvalidParameterTypeError(owner, "pre", pre, "Use True or False.")
    if extra_args is not None and not isinstance(extra_args, str):
        raise InvalidParameterTypeError(owner, "extra_args", extra_args, "Use a string such as '--no-cache'.")
    return {
        "index_url": index_url,
        "extra_index_urls": urls,
        "pre": pre,
        "extra_args": extra_args,
        "secret_mounts": normalize_secrets(secret_mounts, owner, "secret_mounts"),
    }


def _install_mode(owner: str, value: object) -> InstallMode:
    if value not in ("dependencies_only", "install_project"):
        raise param_error(
            owner, "project_install_mode", value, "Use 'dependencies_only' or 'install_project'.", types=str
        )
    return value


@dataclass(frozen=True)
class Image:
    """A container image: a base (URI or Dockerfile) and the layers added on top.

    Start with ``Image.from_debian_base()`` (the default), ``Image.from_base(uri)`` or
    ``Image.from_dockerfile(...)``; every ``with_*`` method returns a new Image. Direct construction
    is not allowed, so every Image goes through the validating constructors.
    """

    base_image: str | None = None
    dockerfile: Path | None = None
    registry: str | None = None
    name: str | None = None
    platform: tuple[Architecture, ...] = ("linux/amd64",)
    python_version: tuple[int, int] = field(default_factory=_detect_python_version)
    layers: tuple[Layer, ...] = ()
    registry_secret: Secret | None = None
    _ref_name: str | None = None
    _guard: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._guard is not _TOKEN:
            raise TypeError(
                "Image cannot be constructed directly; use Image.from_debian_base(), Image.from_base(uri) "
                "or Image.from_dockerfile(...), then the with_* methods."
            )

    @classmethod
    def _new(cls, **kwargs: Any) -> Image:
        return cls(_guard=_TOKEN, **kwargs)

    # ---- constructors ----------------------------------------------------------------------------

    @classmethod
    def from_debian_base(
        cls,
        python_version: tuple[int, int] | str | None = None,
        flyte_version: str | None = None,
        install_flyte: bool = True,
        registry: str | None = None,
        registry_secret: str | Secret | None = None,
        name: str | None = None,
        platform: Architecture | tuple[Architecture, ...] | None = None,
    ) -> Image:
        """The default Flyte image for a Python version (multi-arch amd64/arm64).

        With ``install_flyte=True`` this is the released ``ghcr.io/flyteorg/flyte:py3.X-v<version>``
        image; otherwise a ``python:3.X-slim-bookworm`` base with a ``flyte`` user and a virtualenv.
        ``registry``/``name`` set where a customised image is pushed.
        """
        owner = "Image.from_debian_base"
        version = _python_version(owner, python_version)
        platforms = _platform(owner, platform) or _DEFAULT_PLATFORMS
        if not isinstance(install_flyte, bool):
            raise InvalidParameterTypeError(owner, "install_flyte", install_flyte, "Use True or False.")
        if flyte_version is not None:
            _text(owner, "flyte_version", flyte_version, "Use a version string such as '2.0.0'.")
        common: dict[str, Any] = {
            "registry": _registry(owner, registry),
            "name": _name(owner, name),
            "platform": platforms,
            "python_version": version,
            "registry_secret": _registry_secret(owner, registry_secret),
        }
        py = f"{version[0]}.{version[1]}"
        if install_flyte:
            flyte_v = (flyte_version or _flyte_version()).replace("+", "-")
            tag = flyte_v if flyte_v.startswith("v") else f"v{flyte_v}"
            base = f"{_BASE_REGISTRY}/{_DEFAULT_IMAGE_NAME}:py{py}-{tag}"
            return cls._new(base_image=base, **common)
        layers: tuple[Layer, ...] = (
            Commands(commands=(_CREATE_FLYTE_USER_CMD,)),
            WorkDir(workdir="/home/flyte"),
            Env.from_dict(
                {
                    "VIRTUAL_ENV": "/opt/venv",
                    "PATH": "/opt/venv/bin:$PATH",
                    "PYTHONPATH": "/root",
                    "UV_LINK_MODE": "copy",
                }
            ),
            AptPackages(packages=("build-essential", "ca-certificates")),
        )
        return cls._new(base_image=f"python:{py}-slim-bookworm", layers=layers, **common)

    @classmethod
    def auto(
        cls,
        python_version: tuple[int, int] | str | None = None,
        flyte_version: str | None = None,
        install_flyte: bool = True,
        registry: str | None = None,
        name: str | None = None,
        platform: Architecture | tuple[Architecture, ...] | None = None,
    ) -> Image:
        """The default image (same as :meth:`from_debian_base`)."""
        return cls.from_debian_base(
            python_version=python_version,
            flyte_version=flyte_version,
            install_flyte=install_flyte,
            registry=registry,
            name=name,
            platform=platform,
        )

    @classmethod
    def from_base(cls, image_uri: str) -> Image:
        """A pre-built image that already exists in a registry, e.g. ``"python:3.12-slim"``."""
        if not isinstance(image_uri, str) or not image_uri or re.search(r"\s|://", image_uri):
            raise param_error(
                "Image.from_base",
                "image_uri",
                image_uri,
                "Use a full image reference such as 'python:3.12-slim' or 'ghcr.io/org/name:tag'.",
                types=str,
            )
        return cls._new(base_image=image_uri)

    @classmethod
    def from_ref_name(cls, name: str = "default") -> Image:
        """An image named in ``flyte.init(images={name: uri})``; resolved when built or run, so it may
        be defined before ``init``. Layers added to it build on top of the named image."""
        if not isinstance(name, str) or not name.strip():
            raise param_error(
                "Image.from_ref_name",
                "name",
                name,
                "Use the name of an image given to flyte.init(images=...).",
                types=str,
            )
        return cls._new(_ref_name=name)

    def resolved_base(self) -> str | None:
        """The base image reference, with a :meth:`from_ref_name` name looked up in the defined images."""
        if self._ref_name is None:
            return self.base_image
        uri = _IMAGE_REFS.get(self._ref_name)
        if uri is None:
            known = sorted(_IMAGE_REFS) or "none"
            raise InvalidParameterError(
                "Image.from_ref_name",
                "name",
                self._ref_name,
                f"No image is defined under that name (defined: {known}); define it with "
                f"flyte.init(images={{{self._ref_name!r}: 'registry/image:tag'}}).",
            )
        return uri

    @classmethod
    def from_dockerfile(
        cls,
        file: PathLike,
        registry: str,
        name: str,
        platform: Architecture | tuple[Architecture, ...] | None = None,
    ) -> Image:
        """An image built from your own Dockerfile; it cannot take further ``with_*`` layers."""
        owner = "Image.from_dockerfile"
        kwargs: dict[str, Any] = {
            "dockerfile": _path(owner, "file", file),
            "registry": _registry(owner, registry),
            "name": _name(owner, name) or _text(owner, "name", name, "Use an image name such as 'my-image'."),
        }
        platforms = _platform(owner, platform)
        if platforms is not None:
            kwargs["platform"] = platforms
        return cls._new(**kwargs)

    @classmethod
    def from_uv_script(
        cls,
        script: PathLike,
        *,
        name: str,
        registry: str | None = None,
        registry_secret: str | Secret | None = None,
        python_version: tuple[int, int] | str | None = None,
        index_url: str | None = None,
        extra_index_urls: str | Sequence[str] | None = None,
        pre: bool = False,
        extra_args: str | None = None,
        platform: Architecture | tuple[Architecture, ...] | None = None,
        secret_mounts: SecretRequest | None = None,
    ) -> Image:
        """An image with the dependencies declared in a uv script's ``# /// script`` header."""
        owner = "Image.from_uv_script"
        layer = UVScript(
            script=_path(owner, "script", script),
            **_pip_kwargs(owner, index_url, extra_index_urls, pre, extra_args, secret_mounts),
        )
        base = cls.from_debian_base(
            python_version=python_version,
            install_flyte=False,
            registry=registry,
            registry_secret=registry_secret,
            name=name,
            platform=platform,
        )
        return base._with_layer(layer, owner)

    def clone(
        self,
        registry: str | None = None,
        registry_secret: str | Secret | None = None,
        name: str | None = None,
        base_image: str | None = None,
        python_version: tuple[int, int] | str | None = None,
        addl_layer: Layer | None = None,
        platform: Architecture | tuple[Architecture, ...] | None = None,
    ) -> Image:
        """A copy with a different name, registry, base, Python version or platform (and optional layer)."""
        owner = "Image.clone"
        changes: dict[str, Any] = {}
        if registry is not None:
            changes["registry"] = _registry(owner, registry)
        if registry_secret is not None:
            changes["registry_secret"] = _registry_secret(owner, registry_secret)
        if name is not None:
            changes["name"] = _name(owner, name)
        if base_image is not None:
            try:
                changes["base_image"] = Image.from_base(base_image).base_image
            except InvalidParameterError as e:
                raise type(e)(owner, "base_image", base_image, e.accepted) from None
        if python_version is not None:
            changes["python_version"] = _python_version(owner, python_version)
        if platform is not None:
            changes["platform"] = _platform(owner, platform)
        image = replace(self, **changes) if changes else self
        if addl_layer is not None:
            if not isinstance(addl_layer, Layer):
                raise InvalidParameterTypeError(
                    owner, "addl_layer", addl_layer, "Use a flyte Image layer object."
                )
            image = image._with_layer(addl_layer, owner)
        return image

    def _with_layer(self, layer: Layer, owner: str) -> Image:
        if self.dockerfile is not None:
            raise InvalidParameterError(
                owner,
                "dockerfile",
                str(self.dockerfile),
                "A Dockerfile-based image cannot take extra layers; add the step to the Dockerfile, or "
                "start from Image.from_debian_base() or Image.from_base(uri).",
            )
        return replace(self, layers=(*self.layers, layer))

    # ---- layers ----------------------------------------------------------------------------------

    def with_pip_packages(
        self,
        *packages: str,
        index_url: str | None = None,
        extra_index_urls: str | Sequence[str] | None = None,
        pre: bool = False,
        extra_args: str | None = None,
        secret_mounts: SecretRequest | None = None,
    ) -> Image:
        """Add ``pip install`` of the packages (pip requirement syntax, e.g. ``"pandas>=2"``)."""
        owner = "Image.with_pip_packages"
        pkgs = _str_tuple(owner, "packages", packages, "Use package specs such as 'pandas' or 'numpy>=1.26'.")
        if not pkgs:
            raise InvalidParameterError(
                owner, "packages", packages, "Name at least one package, e.g. 'pandas'."
            )
        layer = PipPackages(
            packages=pkgs, **_pip_kwargs(owner, index_url, extra_index_urls, pre, extra_args, secret_mounts)
        )
        return self._with_layer(layer, owner)

    def with_requirements(
        self,
        file: PathLike,
        index_url: str | None = None,
        extra_index_urls: str | Sequence[str] | None = None,
        pre: bool = False,
        extra_args: str | None = None,
        secret_mounts: SecretRequest | None = None,
    ) -> Image:
        """Add ``pip install -r file`` (a ``.txt`` requirements file)."""
        owner = "Image.with_requirements"
        path = _path(owner, "file", file)
        if path.suffix != ".txt":
            raise InvalidParameterError(owner, "file", file, "Use a requirements file ending in .txt.")
        layer = Requirements(
            file=path, **_pip_kwargs(owner, index_url, extra_index_urls, pre, extra_args, secret_mounts)
        )
        return self._with_layer(layer, owner)

    def with_uv_project(
        self,
        pyproject_file: PathLike,
        uvlock: PathLike | None = None,
        index_url: str | None = None,
        extra_index_urls: str | Sequence[str] | None = None,
        pre: bool = False,
        extra_args: str | None = None,
        secret_mounts: SecretRequest | None = None,
        project_install_mode: InstallMode = "dependencies_only",
    ) -> Image:
        """Install a uv project; ``uvlock`` defaults to ``uv.lock`` next to the pyproject if present."""
        owner = "Image.with_uv_project"
        pyproject = _path(owner, "pyproject_file", pyproject_file)
        lock = _path(owner, "uvlock", uvlock) if uvlock is not None else None
        if lock is None and (pyproject.parent / "uv.lock").exists():
            lock = pyproject.parent / "uv.lock"
        layer = UVProject(
            pyproject=pyproject,
            uvlock=lock,
            project_install_mode=_install_mode(owner, project_install_mode),
            **_pip_kwargs(owner, index_url, extra_index_urls, pre, extra_args, secret_mounts),
        )
        return self._with_layer(layer, owner)

    def with_poetry_project(
        self,
        pyproject_file: PathLike,
        poetry_lock: PathLike | None = None,
        extra_args: str | None = None,
        secret_mounts: SecretRequest | None = None,
        project_install_mode: InstallMode = "dependencies_only",
    ) -> Image:
        """Install a Poetry project; ``poetry_lock`` defaults to ``poetry.lock`` next to the pyproject."""
        owner = "Image.with_poetry_project"
        pyproject = _path(owner, "pyproject_file", pyproject_file)
        lock = _path(owner, "poetry_lock", poetry_lock) if poetry_lock is not None else None
        if extra_args is not None and not isinstance(extra_args, str):
            raise InvalidParameterTypeError(
                owner, "extra_args", extra_args, "Use a string such as '--no-root'."
            )
        layer = PoetryProject(
            pyproject=pyproject,
            poetry_lock=lock or pyproject.parent / "poetry.lock",
            extra_args=extra_args,
            project_install_mode=_install_mode(owner, project_install_mode),
            secret_mounts=normalize_secrets(secret_mounts, owner, "secret_mounts"),
        )
        return self._with_layer(layer, owner)

    def with_apt_packages(self, *packages: str, secret_mounts: SecretRequest | None = None) -> Image:
        """Add ``apt-get install`` of system packages."""
        owner = "Image.with_apt_packages"
        pkgs = _str_tuple(owner, "packages", packages, "Use apt package names such as 'curl' or 'git'.")
        if not pkgs or any(re.search(r"\s", p) for p in pkgs):
            raise InvalidParameterError(
                owner,
                "packages",
                packages,
                "Name one or more apt packages, one per argument, e.g. ('curl', 'git').",
            )
        layer = AptPackages(
            packages=pkgs, secret_mounts=normalize_secrets(secret_mounts, owner, "secret_mounts")
        )
        return self._with_layer(layer, owner)

    def with_commands(
        self, commands: str | Sequence[str], secret_mounts: SecretRequest | None = None
    ) -> Image:
        """Add shell commands, run in order (do not prefix them with ``RUN``)."""
        owner = "Image.with_commands"
        cmds = _str_tuple(
            owner, "commands", commands, "Use a list of shell commands, e.g. ['mkdir -p /data']."
        )
        if not cmds:
            raise InvalidParameterError(owner, "commands", commands, "Give at least one shell command.")
        layer = Commands(
            commands=cmds, secret_mounts=normalize_secrets(secret_mounts, owner, "secret_mounts")
        )
        return self._with_layer(layer, owner)

    def with_env_vars(self, env_vars: Mapping[str, str]) -> Image:
        """Set environment variables in the image."""
        owner = "Image.with_env_vars"
        if not isinstance(env_vars, Mapping) or not all(
            isinstance(k, str) and _ENV_RE.match(k) and isinstance(v, str) for k, v in env_vars.items()
        ):
            raise InvalidParameterTypeError(
                owner,
                "env_vars",
                env_vars,
                "Use a dict of variable names (letters, digits, '_', not starting with a digit) to string "
                "values, e.g. {'LOG_LEVEL': 'debug'}.",
            )
        return self._with_layer(Env.from_dict(env_vars), owner)

    def with_workdir(self, workdir: str) -> Image:
        """Set the image's working directory."""
        owner = "Image.with_workdir"
        _text(owner, "workdir", workdir, "Use a directory path such as '/app'.")
        return self._with_layer(WorkDir(workdir=workdir), owner)

    def with_source_folder(self, src: PathLike, dst: str = ".", copy_contents_only: bool = False) -> Image:
        """Copy a local folder into the image (to ``./<folder name>`` unless ``dst`` is given)."""
        owner = "Image.with_source_folder"
        path = _path(owner, "src", src)
        _text(owner, "dst", dst, "Use a destination path in the image, e.g. '.' or '/app'.")
        from flyte._validate import check_bool

        check_bool(owner, "copy_contents_only", copy_contents_only)
        if not copy_contents_only and dst == ".":
            dst = f"./{path.name}"
        return self._with_layer(CopyConfig(path_type=1, src=path, dst=dst), owner)

    def with_source_file(self, src: PathLike | Sequence[PathLike], dst: str = ".") -> Image:
        """Copy one local file (or several) into the image."""
        owner = "Image.with_source_file"
        _text(owner, "dst", dst, "Use a destination path in the image, e.g. '.' or '/app'.")
        if not isinstance(src, (str, os.PathLike, list, tuple)):
            raise InvalidParameterTypeError(owner, "src", src, "Pass a file path or a list of file paths.")
        sources = [src] if isinstance(src, (str, os.PathLike)) else list(src)
        paths = [_path(owner, "src", s) for s in sources]
        names = [p.name for p in paths]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if not paths or duplicates:
            raise InvalidParameterError(
                owner,
                "src",
                src,
                f"Give one or more files with distinct names (duplicates: {duplicates}); they would "
                f"overwrite each other at {dst!r}.",
            )
        image = self
        for path in paths:
            image = image._with_layer(CopyConfig(path_type=0, src=path, dst=dst), owner)
        return image

    def with_dockerignore(self, path: PathLike) -> Image:
        """Use a ``.dockerignore`` for the build context."""
        owner = "Image.with_dockerignore"
        return self._with_layer(DockerIgnore(path=str(_path(owner, "path", path))), owner)

    def with_local_v2(self) -> Image:
        """This checkout's SDK (``flyte-core``, built into ``dist/``) installed in the image."""
        return self._with_layer(LocalPackages(packages=("flyte-core",)), "Image.with_local_v2")

    def with_local_v2_plugins(self, plugins: str | Sequence[str] | None = None) -> Image:
        """This checkout's plugins (``flyteplugins-<name>`` or ``flyte-plugin-<name>``) in the image."""
        owner = "Image.with_local_v2_plugins"
        if plugins is not None and not isinstance(plugins, (str, list, tuple)):
            raise InvalidParameterTypeError(
                owner, "plugins", plugins, "Pass a plugin distribution name or a list of them."
            )
        names = [plugins] if isinstance(plugins, str) else list(plugins or [])
        for name in names:
            if not isinstance(name, str) or not name.startswith(("flyteplugins-", "flyte-plugin-")):
                raise param_error(
                    owner,
                    "plugins",
                    name,
                    "Name plugin distributions, e.g. 'flyteplugins-ray'.",
                    types=str,
                )
        if not names:
            return self
        return self._with_layer(LocalPackages(packages=tuple(names)), owner)

    def with_code_bundle(
        self, copy_style: Literal["loaded_modules", "all"] = "loaded_modules", dst: str = "."
    ) -> Image:
        """Bake the project source into the image when runs do not ship a code bundle."""
        owner = "Image.with_code_bundle"
        if copy_style not in ("loaded_modules", "all"):
            raise param_error(owner, "copy_style", copy_style, "Use 'loaded_modules' or 'all'.", types=str)
        _text(owner, "dst", dst, "Use a destination path in the image, e.g. '.'.")
        return self._with_layer(CodeBundleLayer(copy_style=copy_style, dst=dst), owner)

    # ---- identity --------------------------------------------------------------------------------

    def _hash_digest(self) -> str:
        payload: dict[str, Any] = {
            "base_image": self.resolved_base(),
            "layers": [layer.to_dict() for layer in self.layers],
        }
        if self.dockerfile is not None:
            try:
                payload["dockerfile"] = hashlib.sha256(self.dockerfile.read_bytes()).hexdigest()
            except OSError:
                payload["dockerfile"] = self.dockerfile.as_posix()
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    @property
    def tag(self) -> str:
        """The image tag: the base image's when nothing was customised, else a hash of the layers."""
        if self._is_plain_base():
            ref = str(self.resolved_base()).rsplit("/", 1)[-1]
            if "@" in ref:
                return ref.split("@", 1)[1]
            return ref.split(":", 1)[1] if ":" in ref else "latest"
        return self._hash_digest()

    def _is_plain_base(self) -> bool:
        return (
            self.resolved_base() is not None
            and self.dockerfile is None
            and not self.layers
            and self.name is None
            and self.registry is None
        )

    @property
    def uri(self) -> str:
        """``base_image`` when nothing was added, else ``[registry/]name:<hash>`` (deterministic)."""
        if self._is_plain_base():
            return str(self.resolved_base())
        name = self.name or _DEFAULT_IMAGE_NAME
        prefix = f"{self.registry}/" if self.registry else ""
        return f"{prefix}{name}:{self._hash_digest()}"

    def validate(self) -> None:
        """Check that the local files the image needs exist (called at build time)."""
        needed = [
            *([self.dockerfile] if self.dockerfile else []),
            *(p for la in self.layers for p in la.local_paths()),
        ]
        for path in needed:
            if not path.exists():
                raise InvalidParameterError(
                    "Image",
                    "path",
                    path.as_posix(),
                    "The file is missing; fix the path (relative to the cwd).",
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description for task specs."""
        try:
            uri: str | None = self.uri
        except InvalidParameterError:  # a from_ref_name image whose name is not defined (yet)
            uri = None
        out: dict[str, Any] = {
            "uri": uri,
            "base_image": self.base_image,
            "dockerfile": None if self.dockerfile is None else self.dockerfile.as_posix(),
            "registry": self.registry,
            "name": self.name,
            "platform": list(self.platform),
            "python_version": list(self.python_version),
            "registry_secret": None if self.registry_secret is None else self.registry_secret.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
        }
        if self._ref_name is not None:
            out["ref_name"] = self._ref_name
        return out
