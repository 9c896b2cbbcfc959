"""``flyte.Environment``: what task and app environments share (name, image, resources, secrets...).

``TaskEnvironment`` and ``flyte.app.AppEnvironment`` subclass it, so code written against the anchor
SDK (``isinstance(env, flyte.Environment)``, ``flyte.deploy(*envs)``) accepts either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from flyte.errors import InvalidParameterError

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
            raise InvalidParameterError("Environment", "name", self.name, "Use a non-empty name.")
        for dep in self.depends_on:
            if not isinstance(dep, Environment):
                raise InvalidParameterError(
                    f"Environment({self.name!r})", "depends_on", dep, "Use a list of environments."
                )
