"""FastAPIAppEnvironment: an app whose server is a ``fastapi.FastAPI`` object, served with uvicorn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flyte.app._app_environment import AppEnvironment
from flyte.app._types import Link
from flyte.errors import InvalidParameterError

__all__ = ["FastAPIAppEnvironment"]

_INSTALL = "pip install 'flyte-core[app]' (or pip install fastapi uvicorn)"


@dataclass(kw_only=True)
class FastAPIAppEnvironment(AppEnvironment):
    """An app that serves ``app`` (a ``fastapi.FastAPI``) on each replica's port.

    Routes may be added to ``app`` after the environment is defined (``@env.app.get(...)``): the
    replica imports the defining file and serves the object as it is then. ``uvicorn_config`` (a
    ``uvicorn.Config``) tunes the server; its host and port are replaced by the replica's, since
    ``flyte serve`` routes traffic to the port it gives each replica.
    """

    app: Any
    type: str | None = "FastAPI"
    uvicorn_config: Any = None

    def __post_init__(self) -> None:
        owner = f"FastAPIAppEnvironment(name={self.name!r})"
        try:
            import fastapi
        except ModuleNotFoundError:
            raise ModuleNotFoundError(f"{owner} needs fastapi: {_INSTALL}") from None
        if not isinstance(self.app, fastapi.FastAPI):
            raise InvalidParameterError(
                owner, "app", self.app, "Pass a fastapi.FastAPI object, e.g. app=FastAPI()."
            )
        if self.uvicorn_config is not None:
            try:
                import uvicorn
            except ModuleNotFoundError:
                raise ModuleNotFoundError(f"{owner} uvicorn_config= needs uvicorn: {_INSTALL}") from None
            if not isinstance(self.uvicorn_config, uvicorn.Config):
                raise InvalidParameterError(
                    owner,
                    "uvicorn_config",
                    self.uvicorn_config,
                    "Use None or uvicorn.Config(app, log_level=...); host and port come from the replica.",
                )
        if self.command is not None:
            raise InvalidParameterError(
                owner,
                "command",
                self.command,
                "A FastAPIAppEnvironment serves its app= object: drop command= (or use AppEnvironment).",
            )
        super().__post_init__()
        docs = Link(path="/docs", title="FastAPI OpenAPI Docs", is_relative=True)
        if docs not in self.links:
            self.links = [docs, *self.links]
        self._server = self.app
