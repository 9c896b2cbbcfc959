"""``flyte.Environment``: what task and app environments share (name, image, resources, secrets...).

``TaskEnvironment`` and ``flyte.app.AppEnvironment`` subclass it, so code written against the anchor
SDK (``isinstance(env, flyte.Environment)``, ``flyte.deploy(*envs)``) accepts either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from flyte._validate import param_error
from flyte.errors import InvalidParameterTypeError

if TYPE_CHECKING:
    from flyte._image import Image
    from flyte._resources import Resources


@dataclass
class Environment:
    """Settings shared by everything deployed together: image, resources, env vars, secrets."""

    name: str
    depends_on: list[Any] = field(default_factory=list)
    pod_template: Any = None
    description: str | None = None
    secrets: Any = None
    env_vars: Mapping[str, str] | None = None
    resources: Resources | None = None
    interruptible: bool = False
    image: Image | str | Literal["auto"] | None = "auto"
    include: tuple[str, ...] = ()
    service_account: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise param_error("Environment", "name", self.name, "Use a non-empty name.", types=str)
        for dep in self.depends_on:
            if not isinstance(dep, Environment):
                raise InvalidParameterTypeError(
                    f"Environment({self.name!r})", "depends_on", dep, "Use a list of environments."
                )
        check_common_fields(self, f"Environment(name={self.name!r})")


def check_common_fields(env: Environment, owner: str) -> None:
    """Types of the settings every environment shares (issue 18 point 11: nothing accepted silently)."""
    from flyte._image import Image, check_image_ref
    from flyte._resources import Resources
    from flyte._secret import Secret, normalize_secrets
    from flyte._validate import check_bool, check_pod_template, check_str, check_str_map

    check_pod_template(owner, env.pod_template)
    check_str(owner, "description", env.description, optional=True)
    if env.secrets is not None and not isinstance(env.secrets, (str, list, tuple, Secret)):
        raise InvalidParameterTypeError(
            owner,
            "secrets",
            env.secrets,
            "Expected secrets to be of type SecretRequest: a name, a flyte.Secret, or a list of them.",
        )
    check_str_map(owner, "env_vars", env.env_vars)
    normalize_secrets(env.secrets, owner)
    check_image_ref(env.image, owner)
    if env.resources is not None and not isinstance(env.resources, Resources):
        raise InvalidParameterTypeError(
            owner,
            "resources",
            env.resources,
            "Expected resources to be of type Resources: use flyte.Resources(cpu=..., memory=...).",
        )
    check_bool(owner, "interruptible", env.interruptible, optional=True)
    if env.image is not None and not isinstance(env.image, (Image, str)):
        raise InvalidParameterTypeError(
            owner,
            "image",
            env.image,
            "Expected image to be of type str or Image: 'auto', a reference ('python:3.12') or an Image.",
        )
    if isinstance(env.include, str) or not isinstance(env.include, (tuple, list)):
        raise InvalidParameterTypeError(
            owner,
            "include",
            env.include,
            "Expected include to be a sequence of str paths, e.g. ('config.yaml',).",
        )
    for inc in env.include:
        check_str(owner, "include", inc, nonempty=True, fix="include entries must be str paths.")
    check_str(owner, "service_account", env.service_account, optional=True, nonempty=True)
