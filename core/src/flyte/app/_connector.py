"""ConnectorEnvironment: an app that runs Flyte connectors (``include`` names their modules).

Its spec runs the connector server (``c0``) on an h2c port with the included modules. That server
ships with a Flyte deployment, not with this SDK, so locally the environment is defined, validated
and serialised, and is served only when given its own ``command``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from flyte.app._app_environment import AppEnvironment
from flyte.app._types import Port


@dataclass(kw_only=True)
class ConnectorEnvironment(AppEnvironment):
    """An app serving custom connectors; ``include=["my_connector.py"]`` lists their modules."""

    type: str | None = "connector"
    port: int | Port = field(default_factory=lambda: Port(port=8080, name="h2c"))

    def __post_init__(self) -> None:
        if self.args is None and self.command is None:
            port = self.port.port if isinstance(self.port, Port) else self.port
            args = ["c0", "--port", str(port), "--prometheus_port", "9092"]
            modules = [p.replace(os.sep, ".").removesuffix(".py") for p in self.include]
            if modules:
                args += ["--modules", *modules]
            self.args = args
        super().__post_init__()
