"""What ``flyte.deploy`` returns for an app environment: the environment and its recorded spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flyte.app._app_environment import AppEnvironment


@dataclass
class DeployedAppEnvironment:
    """An app environment after ``flyte.deploy``; locally ``deployed_app`` is its validated spec."""

    env: AppEnvironment
    deployed_app: Any

    def get_name(self) -> str:
        return self.env.name

    def summary_repr(self) -> str:
        return f"DeployedAppEnvironment(app={self.env.name})"

    def table_repr(self) -> list[list[tuple[str, ...]]]:
        return [[("type", "app"), ("name", self.env.name)]]

    def env_repr(self) -> list[tuple[str, ...]]:
        image: Any = self.env.image
        return [("environment", self.env.name), ("image", str(getattr(image, "uri", image) or ""))]
