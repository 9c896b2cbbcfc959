"""``flyte ui``: a local, read-only web view of the journal (runs, action trees, timelines, values).

Needs the ``ui`` extra (``pip install 'flyte-core[ui]'``: Starlette, Jinja2, uvicorn). Nothing here
is imported by ``import flyte``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def missing_dependencies() -> list[str]:
    """The UI's libraries that are not installed."""
    import importlib.util

    return [m for m in ("starlette", "jinja2", "uvicorn") if importlib.util.find_spec(m) is None]


def allowed_hosts_for(host: str) -> list[str] | None:
    """Host headers accepted for a bind address (None when bound to every interface)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    hosts = [*LOCAL_HOSTS]
    if host not in hosts:
        hosts.append(host)
    return hosts


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    journal_path: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the UI for ``journal_path`` until interrupted; ``on_ready`` gets the URL once bound."""
    import uvicorn

    from flyte.ui._app import create_app

    app = create_app(journal_path, allowed_hosts=allowed_hosts_for(host))
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown}:{actual}/"
    (on_ready or (lambda u: print(u, flush=True)))(url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
