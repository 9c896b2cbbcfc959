"""``flyte.serve(app)``: serve an app locally from Python, in the background, until deactivated.

The supervisor runs on its own event loop in a daemon thread; replicas are child processes. Every
served app is stopped at interpreter exit and on SIGTERM (when no other handler was installed),
and a replica also stops by itself when this process dies.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal

from flyte._validate import param_error
from flyte.app._supervisor import ServeError, Supervisor

if TYPE_CHECKING:
    from flyte.app._app_environment import AppEnvironment

__all__ = ["LocalApp", "ServeContext", "serve", "with_servecontext"]

_logger = logging.getLogger("flyte.app")
_ACTIVE: set[LocalApp] = set()
_HOOKS_INSTALLED = False


def _stop_all() -> None:
    for app in list(_ACTIVE):
        with contextlib.suppress(Exception):
            app.deactivate(wait=True)


def _on_sigterm(signum: int, frame: Any) -> None:
    _stop_all()
    raise SystemExit(128 + signum)


def _install_hooks() -> None:
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)


def _log(level: str, msg: str) -> None:
    _logger.log(logging.WARNING if level == "warning" else logging.INFO, msg)


class LocalApp:
    """A locally served app: its URL, its replicas, and how to stop it."""

    def __init__(self, app: AppEnvironment, ctx: ServeContext) -> None:
        self._app = app
        self._ctx = ctx
        self._sup: Supervisor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._stopped.set()
        self._lock = threading.Lock()
        self._stopping: Future[None] | None = None

    # ---- what it is --------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._app.name

    @property
    def endpoint(self) -> str:
        """The app's local URL (one port in front of all replicas)."""
        if self._sup is None:
            raise ServeError(f"app {self.name!r} is not active; call activate()")
        return self._sup.url

    @property
    def url(self) -> str:
        return self.endpoint

    @property
    def replicas(self) -> list[dict[str, Any]]:
        """``{"slot", "pid", "port", "state"}`` of each replica process."""
        sup = self._sup
        return [] if sup is None else [r.info() for r in sorted(sup.replicas.values(), key=lambda r: r.slot)]

    @property
    def restarts(self) -> int:
        return 0 if self._sup is None else self._sup.restarts

    def is_active(self) -> bool:
        """Whether the app is served and at least its minimum of replicas is ready."""
        sup = self._sup
        return sup is not None and not self._stopped.is_set() and sup._ready_count() >= sup.min_replicas

    def is_deactivated(self) -> bool:
        return self._stopped.is_set()

    # ---- start / stop ------------------------------------------------------------------------------
    def _submit(self, coro: Any) -> Future[Any]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def activate(self, wait: bool = True) -> LocalApp:
        """Start serving (no-op when already served); with ``wait``, until ``min`` replicas are ready."""
        if not self._stopped.is_set():
            if wait and self._sup is not None:
                self._submit(self._sup.wait_ready(self._ctx.activate_timeout)).result()
            return self
        file = self._app._source_file
        if not file or not os.path.isfile(file):
            raise ServeError(
                f"app {self.name!r} was not defined in a file that its replicas can import; define it in a "
                "module and call flyte.serve from there, or run `flyte serve file.py`"
            )
        if self._app._server is None and self._app._command is None:
            raise ServeError(
                f"app {self.name!r} has nothing to run: decorate a function with @{self.name}.server "
                "or set command=/args="
            )
        _install_hooks()
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"flyte-serve-{self.name}", daemon=True)
        self._thread.start()
        ctx = self._ctx
        self._sup = Supervisor(
            self._app,
            file=file,
            host=ctx.host,
            port=ctx.port,
            health_check_path=ctx.health_check_path,
            health_check_interval=ctx.health_check_interval,
            health_check_timeout=ctx.health_check_timeout,
            stop_timeout=ctx.deactivate_timeout,
            env_vars=ctx.env_vars,
            log=_log,
        )
        self._stopped.clear()
        self._stopping = None
        _ACTIVE.add(self)

        async def start() -> None:
            assert self._sup is not None
            await self._sup.start()
            if wait:
                await self._sup.wait_ready(ctx.activate_timeout)

        try:
            self._submit(start()).result()
        except BaseException:
            self.deactivate(wait=True)
            raise
        if not wait:
            self._submit(self._sup.wait_ready(None))
        return self

    def deactivate(self, wait: bool = True) -> LocalApp:
        """Stop the proxy and every replica; remove the registry entry."""
        with self._lock:
            if self._stopped.is_set() or self._loop is None:
                return self
            if self._stopping is None:
                loop, sup = self._loop, self._sup

                async def shutdown() -> None:
                    try:
                        if sup is not None:
                            await sup.stop()
                    finally:
                        loop.call_soon(loop.stop)

                self._stopping = self._submit(shutdown())
                self._stopping.add_done_callback(lambda _: self._finish())
            fut = self._stopping
        if wait:
            try:
                fut.result(timeout=self._ctx.deactivate_timeout + 15)
            finally:
                self._finish()
        return self

    def _finish(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
            if loop is not None and not loop.is_running() and not loop.is_closed():
                loop.close()
        self._stopped.set()
        _ACTIVE.discard(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the app is deactivated (e.g. by SIGTERM or Ctrl-C); False on timeout."""
        try:
            return self._stopped.wait(timeout)
        except KeyboardInterrupt:
            self.deactivate(wait=True)
            raise

    @contextlib.contextmanager
    def ephemeral_ctx_sync(self) -> Iterator[LocalApp]:
        """Serve inside the ``with`` block."""
        self.activate(wait=True)
        try:
            yield self
        finally:
            self.deactivate(wait=True)

    @contextlib.asynccontextmanager
    async def ephemeral_ctx(self) -> AsyncIterator[LocalApp]:
        """Serve inside the ``async with`` block."""
        await asyncio.to_thread(self.activate, True)
        try:
            yield self
        finally:
            await asyncio.to_thread(self.deactivate, True)

    def __enter__(self) -> LocalApp:
        return self.activate(wait=True)

    def __exit__(self, *exc: object) -> None:
        self.deactivate(wait=True)

    def __repr__(self) -> str:
        state = "active" if not self._stopped.is_set() else "stopped"
        where = f" at {self._sup.url}" if self._sup is not None and state == "active" else ""
        return f"<LocalApp {self.name!r} {state}{where}>"


def _check_serve_keywords(
    env_vars: Any, host: Any, health_check_path: Any, log_level: Any, raw_data_path: Any, **seconds: Any
) -> None:
    """Bad ``with_servecontext`` keywords fail when given, not when an app is served."""
    from flyte._validate import check_number, check_str, check_str_map
    from flyte.errors import InvalidParameterError, InvalidParameterTypeError

    owner = "with_servecontext"
    check_str_map(owner, "env_vars", env_vars)
    check_str(owner, "host", host, nonempty=True, fix="Pass a host name or address, e.g. '127.0.0.1'.")
    check_str(owner, "health_check_path", health_check_path, optional=True, nonempty=True)
    if health_check_path is not None and not health_check_path.startswith("/"):
        raise InvalidParameterError(owner, "health_check_path", health_check_path, "Start it with '/'.")
    for param, value in seconds.items():
        check_number(owner, param, value, optional=True, positive=True)
    check_str(owner, "raw_data_path", raw_data_path, optional=True, nonempty=True)
    levels = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")
    if log_level is None:
        return
    if isinstance(log_level, str):
        if log_level.upper() not in levels:
            raise InvalidParameterError(
                owner, "log_level", log_level, f"Pass an int or one of {list(levels)}."
            )
    elif isinstance(log_level, bool) or not isinstance(log_level, int):
        raise InvalidParameterTypeError(
            owner, "log_level", log_level, f"Pass an int or one of {list(levels)}."
        )
    elif log_level < 0:
        raise InvalidParameterError(owner, "log_level", log_level, "Pass a logging level >= 0.")


class ServeContext:
    """Settings for serving apps locally (see :func:`with_servecontext`)."""

    def __init__(
        self,
        mode: Literal["local", "remote"] | None = None,
        *,
        env_vars: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        health_check_path: str | None = None,
        health_check_interval: float | None = None,
        health_check_timeout: float | None = None,
        activate_timeout: float | None = None,
        deactivate_timeout: float | None = None,
        log_level: int | str | None = None,
        raw_data_path: str | None = None,
    ) -> None:

        if mode == "remote":
            raise NotImplementedError(
                "there is no remote backend here: serve locally (mode='local'), or write the app's "
                "Deployment/Service spec with `flyte serialize app.py`"
            )
        if mode not in (None, "local"):
            raise param_error("with_servecontext", "mode", mode, "Use 'local' (or None).", types=str)
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535
        ):
            raise param_error(
                "with_servecontext",
                "port",
                port,
                "Use an int from 0 to 65535 (0 picks a free port).",
                types=int,
            )
        _check_serve_keywords(
            env_vars,
            host,
            health_check_path,
            log_level,
            raw_data_path,
            health_check_interval=health_check_interval,
            health_check_timeout=health_check_timeout,
            activate_timeout=activate_timeout,
            deactivate_timeout=deactivate_timeout,
        )
        self.env_vars = dict(env_vars or {})
        if log_level is not None:
            name = logging.getLevelName(log_level) if isinstance(log_level, int) else str(log_level)
            self.env_vars.setdefault("FLYTE_APP_LOG_LEVEL", name.lower())
        if raw_data_path is not None:
            self.env_vars.setdefault("_FLYTE_APP_RAW_DATA_PATH", raw_data_path)
        self.host = host
        self.port = port
        self.health_check_path = health_check_path or "/health"
        self.health_check_interval = 1.0 if health_check_interval is None else health_check_interval
        self.health_check_timeout = 2.0 if health_check_timeout is None else health_check_timeout
        self.activate_timeout = 60.0 if activate_timeout is None else activate_timeout
        self.deactivate_timeout = 6.0 if deactivate_timeout is None else deactivate_timeout

    def serve(self, app_env: AppEnvironment, wait: bool = True) -> LocalApp:
        """Serve ``app_env`` in the background; returns once ``min`` replicas are ready (``wait``)."""
        from flyte.app._app_environment import AppEnvironment
        from flyte.errors import InvalidParameterError

        if not isinstance(app_env, AppEnvironment):
            raise InvalidParameterError("flyte.serve", "app_env", app_env, "Pass a flyte.app.AppEnvironment.")
        return LocalApp(app_env, self).activate(wait=wait)


def with_servecontext(
    mode: Literal["local", "remote"] | None = None,
    *,
    env_vars: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    health_check_path: str | None = None,
    health_check_interval: float | None = None,
    health_check_timeout: float | None = None,
    activate_timeout: float | None = None,
    deactivate_timeout: float | None = None,
    log_level: int | str | None = None,
    raw_data_path: str | None = None,
) -> ServeContext:
    """Serve with custom settings: ``flyte.with_servecontext(port=0, env_vars={...}).serve(app)``.

    ``port`` defaults to the app's port (0 picks a free one); ``health_check_path`` (default
    ``/health``) is probed on every replica, any answer below 500 counting as healthy.
    """
    return ServeContext(
        mode,
        env_vars=env_vars,
        host=host,
        port=port,
        health_check_path=health_check_path,
        health_check_interval=health_check_interval,
        health_check_timeout=health_check_timeout,
        activate_timeout=activate_timeout,
        deactivate_timeout=deactivate_timeout,
        log_level=log_level,
        raw_data_path=raw_data_path,
    )


def serve(app_env: AppEnvironment) -> LocalApp:
    """Serve ``app_env`` locally on 127.0.0.1 (its port) and return once it is ready.

    Replicas run as processes behind one port; ``handle.endpoint`` is the URL, which tasks also
    find by name (``app_env.endpoint``). ``handle.deactivate()`` (or interpreter exit) stops it.
    """
    return ServeContext().serve(app_env)
