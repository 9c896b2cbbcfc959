"""``flyte serve FILE [APP]``: run an app locally until Ctrl-C; helpers for ``flyte serialize``."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click


def _apps_in(module: Any) -> dict[str, Any]:
    """The AppEnvironments defined at the top level of ``module``, by app name."""
    mod = sys.modules.get("flyte.app._app_environment")
    if mod is None:  # nothing imported flyte.app, so the module defines no app
        return {}
    cls = mod.AppEnvironment
    return {v.name: v for v in vars(module).values() if isinstance(v, cls)}


def app_specs(module: Any) -> dict[str, dict[str, Any]]:
    """``{app name: spec}`` for every app in ``module`` (used by ``flyte serialize``)."""
    return {name: app.spec() for name, app in sorted(_apps_in(module).items())}


def write_app_specs(specs: dict[str, dict[str, Any]], out_dir: str) -> None:
    """``<name>.app.json`` (the spec) and ``<name>.k8s.json`` (a v1 List for ``kubectl apply -f``)."""
    for name, spec in specs.items():
        with open(os.path.join(out_dir, f"{name}.app.json"), "w") as f:
            json.dump(spec, f, indent=2, sort_keys=True)
            f.write("\n")
        k8s = spec["k8s"]
        items = [k8s[k] for k in ("deployment", "service", "autoscaler") if k8s.get(k)]
        with open(os.path.join(out_dir, f"{name}.k8s.json"), "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f, indent=2)
            f.write("\n")


def _pick_app(file: str, module: Any, app_name: str | None) -> Any:
    found = _apps_in(module)
    if app_name is not None:
        for key, value in vars(module).items():
            if key == app_name and value in found.values():
                return value
        if app_name in found:
            return found[app_name]
        raise click.UsageError(f"{file} has no app named {app_name!r}; apps there: {sorted(found)}")
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise click.UsageError(f"{file} defines no flyte.app.AppEnvironment")
    raise click.UsageError(f"{file} defines several apps, name one: {sorted(found)}")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("app_name", required=False)
@click.option("--port", type=int, default=None, help="Port to listen on (default: the app's; 0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (default: local only).")
@click.option("--env", "env_vars", multiple=True, help="KEY=VALUE set in every replica (repeatable).")
@click.option("--health-path", default="/health", show_default=True, help="Path probed on each replica.")
@click.option("--health-interval", type=float, default=1.0, show_default=True, help="Seconds between probes.")
@click.option("--startup-timeout", type=float, default=60.0, show_default=True, help="Max seconds to ready.")
@click.option("--local", is_flag=True, help="Serve on this machine (accepted for compatibility; always so).")
@click.option(
    "--triggers",
    "with_triggers",
    is_flag=True,
    help="Also fire FILE's task triggers (as `flyte triggers serve`).",
)
def serve(
    file: str,
    app_name: str | None,
    port: int | None,
    host: str,
    env_vars: tuple[str, ...],
    health_path: str,
    health_interval: float,
    startup_timeout: float,
    local: bool,
    with_triggers: bool = False,
) -> None:
    """Serve the app in FILE locally until Ctrl-C: its min replicas run as processes behind one port.

    Replicas are health-checked (GET --health-path; any answer below 500 is healthy), restarted when
    they exit or fail, and scaled between the app's min and max replicas by load. While it runs,
    tasks find the app by name (``app.endpoint``) through $FLYTE_HOME/apps/<name>.json.
    """
    import asyncio
    import signal

    from flyte._run import import_module_from_file
    from flyte.app._supervisor import ServeError, Supervisor

    if port is not None and not 0 <= port <= 65535:
        raise click.BadParameter("use 0-65535 (0 picks a free port)", param_hint="--port")
    envs: dict[str, str] = {}
    for kv in env_vars:
        if "=" not in kv:
            raise click.BadParameter(f"{kv!r}: use KEY=VALUE", param_hint="--env")
        k, v = kv.split("=", 1)
        envs[k] = v
    module = import_module_from_file(file)
    app = _pick_app(file, module, app_name)
    if app._server is None and app._command is None:
        raise click.UsageError(
            f"app {app.name!r} has nothing to run: decorate a function with @{app.name}.server "
            "or set command="
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host}: anyone who can reach it can call the app", err=True)

    def log(level: str, msg: str) -> None:
        click.echo(f"[{app.name}] {msg}", err=True)

    sup = Supervisor(
        app,
        file=file,
        host=host,
        port=port,
        health_check_path=health_path,
        health_check_interval=health_interval,
        startup_timeout=startup_timeout,
        env_vars=envs,
        log=log,
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await sup.start()
            ready = asyncio.create_task(sup.wait_ready(startup_timeout * 3))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if ready.done():
                ready.result()
                lo, hi = sup.min_replicas, sup.max_replicas
                replicas = f"{lo} replica(s)" if lo == hi else f"{lo}-{hi} replicas"
                click.echo(f"serving app {app.name!r} at {sup.url} ({replicas}); Ctrl+C stops")
                sys.stdout.flush()
                await stopped
            else:
                ready.cancel()
        finally:
            click.echo(f"[{app.name}] stopping", err=True)
            await sup.stop()

    stop_triggers = None
    if with_triggers:  # issue 22: the file's scheduled tasks, fired next to the app
        from flyte.cli._triggers import start_in_background

        stop_triggers = start_in_background(file, module)
    try:
        asyncio.run(run())
    except ServeError as e:
        raise click.ClickException(str(e)) from None
    finally:
        if stop_triggers is not None:
            stop_triggers()
