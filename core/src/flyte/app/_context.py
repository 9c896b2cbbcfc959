"""What a replica knows about itself: ``flyte.app.ctx()`` (read from the environment it was given)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

__all__ = ["AppContext", "ctx"]

ServeMode = Literal["local", "remote"]


@dataclass(frozen=True)
class AppContext:
    """The serving context of this process.

    ``port`` is where this replica must listen (behind ``flyte serve``'s proxy it is not the app's
    public port); ``endpoint`` is the app's public URL; ``replica`` is this replica's index.
    """

    mode: ServeMode = "remote"
    name: str = ""
    port: int = 0
    host: str = "127.0.0.1"
    replica: int = 0
    endpoint: str = ""
    project: str = ""
    domain: str = ""
    raw_data_path: str = ""


def ctx() -> AppContext:
    """The current app context (empty outside an app replica)."""
    env = os.environ
    mode: ServeMode = "local" if env.get("_RUN_MODE") == "local" else "remote"
    try:
        port = int(env.get("FLYTE_APP_PORT") or env.get("PORT") or 0)
        replica = int(env.get("FLYTE_APP_REPLICA") or 0)
    except ValueError:
        port, replica = 0, 0
    return AppContext(
        mode=mode,
        name=env.get("FLYTE_APP_NAME", ""),
        port=port,
        host=env.get("FLYTE_APP_HOST", "127.0.0.1"),
        replica=replica,
        endpoint=env.get("FLYTE_APP_ENDPOINT", ""),
        project=env.get("FLYTE_INTERNAL_EXECUTION_PROJECT", ""),
        domain=env.get("FLYTE_INTERNAL_EXECUTION_DOMAIN", ""),
        raw_data_path=env.get("_FLYTE_APP_RAW_DATA_PATH", ""),
    )
