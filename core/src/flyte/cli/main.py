"""``flyte``: run tasks, inspect and resume runs, manage the cache, list plugins, serialise specs."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from flyte.cli import _records, _serve


@click.group()
@click.version_option(package_name="flyte-core", prog_name="flyte")
def cli() -> None:
    """Flyte: durable Python workflows on this machine (no server, no config)."""


def _console() -> Any:
    from rich.console import Console

    return Console()


def _journal() -> Any:
    from flyte._config import get_settings
    from flyte._runtime.journal import open_journal

    return open_journal(get_settings().journal_path)


def _init() -> None:
    import flyte

    flyte.init_from_config()


# ---- flyte run ------------------------------------------------------------------------------------
class _RunCommand(click.Command):
    """``flyte run FILE TASK --input value ...``: options after TASK come from the task's signature."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        own, rest, seen = [], [], 0
        it = iter(range(len(args)))
        for i in it:
            a = args[i]
            if seen >= 2:
                rest.append(a)
            elif a.startswith("-"):
                own.append(a)
                opt = self._option(a)
                if opt is not None and not opt.is_flag and "=" not in a and i + 1 < len(args):
                    own.append(args[i + 1])
                    next(it, None)
            else:
                own.append(a)
                seen += 1
        ctx.meta["task_args"] = rest
        return super().parse_args(ctx, own)

    def _option(self, flag: str) -> click.Option | None:
        for p in self.params:
            if isinstance(p, click.Option) and flag.split("=")[0] in p.opts + p.secondary_opts:
                return p
        return None


@cli.command(cls=_RunCommand, context_settings={"ignore_unknown_options": True})
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("task_name")
@click.option("--name", help="Name of the run (default: generated).")
@click.option("--overwrite-cache", is_flag=True, help="Recompute cached tasks and overwrite their entries.")
@click.option("--disable-run-cache", is_flag=True, help="Do not read or write the cache in this run.")
@click.option("--max-action-concurrency", type=int, default=None, help="Most actions running at once.")
@click.option("--env", "env_vars", multiple=True, help="KEY=VALUE set for the run (repeatable).")
@click.option("--raw-data-path", default=None, help="Where the run's data goes (file:// or s3://...).")
@click.option("--isolation", type=click.Choice(["inline", "process", "container"]), default=None)
@click.option(
    "--executor",
    default=None,
    help="Where child actions run: local (default) or a cluster, e.g. ray://HOST:PORT (flyte-plugin-ray).",
)
@click.option("--quiet", is_flag=True, help="No live progress view.")
@click.pass_context
def run(
    ctx: click.Context,
    file: str,
    task_name: str,
    name: str | None,
    overwrite_cache: bool,
    disable_run_cache: bool,
    max_action_concurrency: int | None,
    env_vars: tuple[str, ...],
    raw_data_path: str | None,
    isolation: str | None,
    executor: str | None,
    quiet: bool,
) -> None:
    """Run TASK_NAME from FILE locally; task inputs are options: --x 3 --items '[1,2]'."""
    from flyte._run import import_module_from_file, with_runcontext
    from flyte._task import TaskTemplate
    from flyte.cli._params import task_options

    _init()
    if executor is not None:
        from flyte._config import get_settings
        from flyte._runtime.workers.cluster import check_executor

        check_executor(executor)
        get_settings().executor = executor
    module = import_module_from_file(file)
    task = getattr(module, task_name, None)
    if not isinstance(task, TaskTemplate):
        tasks = sorted(k for k, v in vars(module).items() if isinstance(v, TaskTemplate))
        raise click.UsageError(f"{file} has no task named {task_name!r}; tasks there: {tasks}")
    input_cmd = click.Command(task_name, params=task_options(task.interface), add_help_option=True)
    try:
        with input_cmd.make_context(f"flyte run {file} {task_name}", list(ctx.meta["task_args"])) as ictx:
            inputs = dict(ictx.params)
    except click.exceptions.Exit:
        return
    envs = {}
    for kv in env_vars:
        if "=" not in kv:
            raise click.BadParameter(f"{kv!r}: use KEY=VALUE", param_hint="--env")
        k, v = kv.split("=", 1)
        envs[k] = v
    rc = with_runcontext(
        name=name,
        overwrite_cache=overwrite_cache,
        disable_run_cache=disable_run_cache,
        env_vars=envs,
        max_action_concurrency=max_action_concurrency,
        raw_data_path=raw_data_path,
        isolation=isolation,
    )
    console = _console()
    live = console.is_terminal and not quiet
    if live:
        from flyte.cli._views import LiveProgress

        with LiveProgress(console) as progress:
            rc.listeners.append(progress)
            result = rc.start(task, **inputs)
    else:
        result = rc.start(task, **inputs)
    click.echo(f"run {result.name}: {result.status}")
    click.echo(f"record: {result.url}")
    if result.error is not None:
        click.echo(f"error: {type(result.error).__name__}: {result.error}", err=True)
        click.echo(f"resume it with: flyte rerun {result.name} --recover", err=True)
        sys.exit(1)
    click.echo(f"outputs: {_show(result._outputs)}")  # the task's value itself, not ActionOutputs


def _show(v: Any) -> str:
    from pydantic_core import to_jsonable_python

    try:
        return json.dumps(to_jsonable_python(v))
    except Exception:
        return repr(v)


# ---- flyte runs -----------------------------------------------------------------------------------
@cli.group()
def runs() -> None:
    """List and inspect recorded runs."""


@runs.command("list")
@click.option("--limit", default=20, show_default=True)
@click.option("--status", default=None, help="Only runs with this status.")
def runs_list(limit: int, status: str | None) -> None:
    """Recent runs, newest first."""
    from rich.table import Table

    from flyte.cli._views import STATUS_STYLE, effective_status, fmt_duration

    _init()
    j = _journal()
    where, params = ("WHERE status=?", [status.upper()]) if status else ("", [])
    rows = j.query(f"SELECT * FROM runs {where} ORDER BY created_at DESC LIMIT ?", (*params, limit))
    table = Table("name", "task", "status", "started", "duration", "actions")
    import datetime as dt

    for r in rows:
        n = j.query_one("SELECT COUNT(*) AS n FROM actions WHERE run=?", (r["name"],))
        status = effective_status(r)
        style = STATUS_STYLE.get(status, "white")
        table.add_row(
            r["name"],
            r["task_name"],
            f"[{style}]{status}[/]",
            dt.datetime.fromtimestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M:%S"),
            fmt_duration(r["started_at"], r["ended_at"]),
            str(n["n"] if n else 0),
        )
    _console().print(table)


@runs.command("show")
@click.argument("run_name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def runs_show(run_name: str, as_json: bool) -> None:
    """The action tree of a run: status, attempts, duration, cache hits, errors."""
    from flyte.cli._views import effective_status

    _init()
    j = _journal()
    run_row = j.query_one("SELECT * FROM runs WHERE name=?", (run_name,))
    if run_row is None:
        raise click.ClickException(f"no run named {run_name!r}; see `flyte runs list`")
    actions = j.query(
        "SELECT action_id, parent_id, position, kind, task_name, status, attempts, cache_hit, started_at,"
        " ended_at, error, group_name, mode FROM actions WHERE run=? ORDER BY started_at",
        (run_name,),
    )
    if as_json:
        out = {
            "run": {
                **{
                    k: run_row[k]
                    for k in ("name", "task_name", "status", "created_at", "started_at", "ended_at", "error")
                },
                "effective_status": effective_status(run_row),
            },
            "actions": [dict(a) for a in actions],
        }
        click.echo(json.dumps(out, indent=2, default=str))
        return
    from flyte.cli._views import action_tree

    _console().print(action_tree(run_row, actions))


_records.register(runs)  # flyte runs import / export


@cli.command()
@click.argument("run_name")
@click.option(
    "--recover/--no-recover",
    default=True,
    show_default=True,
    help="Resume: actions that already succeeded are not run again.",
)
def rerun(run_name: str, recover: bool) -> None:
    """Run a recorded run again (by default resuming it after a crash)."""
    _init()
    from flyte._run import _rerun

    result = _rerun(run_name, recover=recover)  # a failed run is shown, not raised
    click.echo(f"run {result.name}: {result.status}")
    if result.error is not None:
        click.echo(f"error: {type(result.error).__name__}: {result.error}", err=True)
        sys.exit(1)
    click.echo(f"outputs: {_show(result._outputs)}")


# ---- flyte cache ----------------------------------------------------------------------------------
@cli.group()
def cache() -> None:
    """Manage the task cache shared by all runs."""


@cache.command("clear")
@click.option("--task", "task_name", default=None, help="Only entries of this task (env.func).")
def cache_clear(task_name: str | None) -> None:
    """Delete cache entries."""
    _init()
    j = _journal()
    if task_name:
        n = j.query_one("SELECT COUNT(*) AS n FROM cache WHERE task_name=?", (task_name,))["n"]
        j.execute("DELETE FROM cache WHERE task_name=?", (task_name,))
    else:
        n = j.query_one("SELECT COUNT(*) AS n FROM cache")["n"]
        j.execute("DELETE FROM cache")
    click.echo(f"cleared {n} cache entr{'y' if n == 1 else 'ies'}")


# ---- flyte plugins --------------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True)
def plugins(as_json: bool) -> None:
    """Installed plugins: distribution, version, task types, and load errors."""
    from dataclasses import asdict

    from flyte._plugins.manager import load_plugins

    state = load_plugins()
    infos = list(state.plugins.values())
    if as_json:
        click.echo(json.dumps([asdict(i) for i in infos], indent=2))
        return
    from rich.table import Table

    t = Table("plugin", "distribution", "version", "task types", "storage", "status")
    for i in infos:
        status = (
            "[red]error: " + (i.error or "") + "[/red]"
            if i.error
            else ("disabled" if not i.enabled else "[green]ok[/green]")
        )
        t.add_row(i.name, i.distribution, i.version, ", ".join(i.task_types), ", ".join(i.storage), status)
    _console().print(t)


# ---- flyte serialize ------------------------------------------------------------------------------
@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write one JSON file per task here (default: print).",
)
def serialize(file: str, out_dir: str | None) -> None:
    """Write the spec of every task and app defined in FILE (apps: Deployment/Service/HPA-style)."""
    from flyte._run import import_module_from_file
    from flyte._task import TaskTemplate

    module = import_module_from_file(file)
    tasks = {k: v for k, v in vars(module).items() if isinstance(v, TaskTemplate)}
    specs = {t.name: t.spec().model_dump(mode="json") for t in tasks.values()}
    apps = _serve.app_specs(module)
    if out_dir is None:
        click.echo(json.dumps({**specs, **apps}, indent=2, sort_keys=True))
        return
    os.makedirs(out_dir, exist_ok=True)
    for name, spec in specs.items():
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(spec, f, indent=2, sort_keys=True)
            f.write("\n")
        pod = spec.get("k8s_pod")
        if pod:
            import yaml  # type: ignore[import-untyped]

            with open(os.path.join(out_dir, f"{name}.pod.yaml"), "w") as f:
                yaml.safe_dump(pod, f, sort_keys=False)
    _serve.write_app_specs(apps, out_dir)
    also = f" and {len(apps)} app spec(s)" if apps else ""
    click.echo(f"wrote {len(specs)} task spec(s){also} to {out_dir}")


# ---- flyte ui -------------------------------------------------------------------------------------
@cli.command()
@click.option("--port", default=0, show_default=True, help="Port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (default: local only).")
@click.option("--journal", "journal_path", default=None, help="Journal file to show (default: this home's).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
def ui(port: int, host: str, journal_path: str | None, open_browser: bool) -> None:
    """A local web view of recorded runs (read-only): runs, action trees, timelines, values."""
    from flyte.ui import missing_dependencies

    missing = missing_dependencies()
    if missing:
        raise click.ClickException(f"flyte ui needs {', '.join(missing)}: pip install 'flyte-core[ui]'")
    from flyte._config import get_settings
    from flyte.ui import serve

    _init()
    path = journal_path or get_settings().journal_path
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host}: anyone who can reach it can read your runs", err=True)

    def ready(url: str) -> None:
        click.echo(f"flyte ui: {url}  (journal {path}, read-only; Ctrl+C stops)")
        sys.stdout.flush()
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    serve(path, host, port, on_ready=ready)


cli.add_command(_serve.serve)  # flyte serve FILE [APP]


def main() -> None:
    try:
        from flyte._plugins.manager import add_cli_commands

        add_cli_commands(cli)
    except Exception:
        pass
    cli()


if __name__ == "__main__":
    main()
