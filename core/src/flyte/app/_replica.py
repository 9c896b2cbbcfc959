"""One replica of an app: ``python -m flyte.app._replica FILE APP [--port N] [--host H]``.

Imports FILE, finds the app named APP, runs its ``on_startup`` hook, its ``@server`` entry point
(an ASGI app returned by it is served with uvicorn on ``--host:--port``) and its ``on_shutdown``
hook; SIGTERM stops the server gracefully. This is also the container command of a server app.

``python -m flyte.app._replica --exec --parent PID -- CMD...`` runs a command app: it arranges to
die with its supervisor, then replaces itself with CMD.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["is_asgi_app", "main"]


def _die_with_parent(parent: int | None, poll: bool) -> None:
    """Get SIGTERM when the supervisor dies (Linux prctl; elsewhere a thread polls the parent PID)."""
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except Exception:
            pass
    if os.getppid() != parent:
        os._exit(0)
    if poll:

        def watch() -> None:
            while True:
                time.sleep(1.0)
                if os.getppid() != parent:
                    os.kill(os.getpid(), signal.SIGTERM)
                    return

        threading.Thread(target=watch, name="flyte-parent-watch", daemon=True).start()


def is_asgi_app(obj: Any) -> bool:
    """An ASGI app object (Starlette, FastAPI...) or an ``async def app(scope, receive, send)``."""
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        try:
            params = [
                p
                for p in inspect.signature(obj).parameters.values()
                if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except (TypeError, ValueError):
            return False
        return len(params) == 3 and inspect.iscoroutinefunction(obj)
    return callable(obj) and not inspect.isclass(obj)


def _call(runner: Any, fn: Callable[..., Any] | None) -> Any:
    if fn is None:
        return None
    result = fn()
    if inspect.iscoroutine(result):
        return runner.run(result)
    if inspect.isawaitable(result):

        async def _await() -> Any:
            return await result

        return runner.run(_await())
    return result


@contextmanager
def _signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


async def serve_asgi(asgi: Any, host: str, port: int, config: Any = None) -> bool:
    """Serve ``asgi`` with uvicorn until SIGTERM/SIGINT; False when it could not start.

    ``config`` (a ``uvicorn.Config`` the app brought) keeps its settings but listens on host:port.
    """
    try:
        import uvicorn
    except ImportError:
        print(
            "flyte: serving an ASGI app needs uvicorn: pip install 'flyte-core[app]'",
            file=sys.stderr,
            flush=True,
        )
        return False

    class _Server(uvicorn.Server):
        """uvicorn without its own signal handling (this module handles SIGTERM/SIGINT)."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def install_signal_handlers(self) -> None:
            pass

    level = os.environ.get("FLYTE_APP_LOG_LEVEL", "warning")
    if config is None:
        config = uvicorn.Config(
            asgi, host=host, port=port, log_level=level, lifespan="auto", timeout_graceful_shutdown=5
        )
    else:
        config.host, config.port = host, port
    server = _Server(config)

    def on_signal(signum: int, frame: Any) -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    with _signals(on_signal):
        await server.serve()
    return bool(server.started)


def run_app(app: Any, host: str, port: int) -> int:
    """Run ``app``'s hooks and server in this process; the exit code."""
    import asyncio

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    target = app._server
    if target is None:
        print(
            f"flyte: app {app.name!r} has nothing to run: decorate a function with @{app.name}.server "
            "or set command=/args=",
            file=sys.stderr,
            flush=True,
        )
        return 2
    with asyncio.Runner() as runner:
        _call(runner, app._on_startup)
        try:
            asgi = target if is_asgi_app(target) else _call(runner, target)
            if asgi is not None:
                if not callable(asgi):
                    print(
                        f"flyte: @{app.name}.server returned {type(asgi).__name__}, not an ASGI app; "
                        "return e.g. a Starlette/FastAPI app, or serve it yourself and return None",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 2
                config = getattr(app, "uvicorn_config", None)
                if not runner.run(serve_asgi(asgi, host, port, config)):
                    return 1
        finally:
            _call(runner, app._on_shutdown)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(prog="python -m flyte.app._replica")
    p.add_argument("--exec", dest="exec_mode", action="store_true", help="run the command after --")
    p.add_argument("--parent", type=int, default=None, help="exit when this process dies")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--host", default=None)
    p.add_argument("file", nargs="?")
    p.add_argument("app", nargs="?")
    args, unknown = p.parse_known_args(argv)
    if args.exec_mode:
        if not extra:
            p.error("--exec needs a command after --")
        _die_with_parent(args.parent, poll=False)
        try:
            os.execvp(extra[0], extra)
        except OSError as e:
            print(f"flyte: cannot run {extra[0]!r}: {e}", file=sys.stderr, flush=True)
            return 127
    if not args.file or not args.app:
        p.error("FILE and APP are required")
    _die_with_parent(args.parent, poll=True)
    for path in reversed(json.loads(os.environ.get("FLYTE_APP_SYS_PATH") or "[]")):
        if path not in sys.path:
            sys.path.insert(0, path)

    from flyte._run import import_module_from_file
    from flyte.app._app_environment import AppEnvironment, find_app

    module = import_module_from_file(args.file)
    app = find_app(args.app, module)
    if app is None:
        names = sorted(v.name for v in vars(module).values() if isinstance(v, AppEnvironment))
        print(f"flyte: {args.file} defines no app named {args.app!r}; apps there: {names}", file=sys.stderr)
        return 2
    port = args.port or int(os.environ.get("PORT") or app.get_port().port)
    host = args.host or os.environ.get("FLYTE_APP_HOST") or "0.0.0.0"
    os.environ.update({"FLYTE_APP_NAME": app.name, "FLYTE_APP_PORT": str(port), "FLYTE_APP_HOST": host})
    sys.argv = [args.file, *unknown, *extra]
    return run_app(app, host, port)


if __name__ == "__main__":
    sys.exit(main())
