"""Apps: long-running HTTP services with their own image, resources, port and scaling.

```python
import flyte, flyte.app
from starlette.applications import Starlette

app = flyte.app.AppEnvironment(name="hello", port=8080, scaling=flyte.app.Scaling(replicas=(1, 3)))

@app.server
def server():
    return Starlette(routes=[...])   # served with uvicorn on each replica's port
```

``flyte serve app.py`` runs it on 127.0.0.1 (min replicas as processes behind one port, health-checked,
restarted, scaled by load); ``flyte serialize app.py`` writes its Deployment/Service spec; a task calls
it with ``app.endpoint`` (or ``flyte.app.get_endpoint("hello")``). Importing this package loads no web
framework: uvicorn is imported only inside a replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flyte.app._app_environment import AppEnvironment, apps
from flyte.app._context import AppContext, ctx
from flyte.app._parameter import AppEndpoint, ArtifactValue, Parameter, RunOutput, get_parameter
from flyte.app._registry import AppNotRunningError, get_endpoint, list_apps
from flyte.app._types import Domain, Link, Port, Scaling, Subdomain, Timeouts

if TYPE_CHECKING:
    from flyte.app._connector import ConnectorEnvironment
    from flyte.app._deploy import DeployedAppEnvironment
    from flyte.app._serve import LocalApp, ServeContext, serve, with_servecontext
    from flyte.app._supervisor import ServeError

__all__ = [
    "AppContext",
    "AppEndpoint",
    "AppEnvironment",
    "AppNotRunningError",
    "ArtifactValue",
    "ConnectorEnvironment",
    "DeployedAppEnvironment",
    "Domain",
    "Link",
    "LocalApp",
    "Parameter",
    "Port",
    "RunOutput",
    "Scaling",
    "ServeContext",
    "ServeError",
    "Subdomain",
    "Timeouts",
    "apps",
    "ctx",
    "get_endpoint",
    "get_parameter",
    "list_apps",
    "serve",
    "with_servecontext",
]

_LAZY = {
    "ConnectorEnvironment": "flyte.app._connector",
    "DeployedAppEnvironment": "flyte.app._deploy",
    "LocalApp": "flyte.app._serve",
    "ServeContext": "flyte.app._serve",
    "serve": "flyte.app._serve",
    "with_servecontext": "flyte.app._serve",
    "ServeError": "flyte.app._supervisor",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flyte.app' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
