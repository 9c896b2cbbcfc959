"""An app whose replicas crash at startup (for the give-up test)."""

from __future__ import annotations

from typing import Any

import flyte.app

broken = flyte.app.AppEnvironment(name="broken", scaling=flyte.app.Scaling(replicas=1))


@broken.server
def server() -> Any:
    raise RuntimeError("cannot load the model")
