"""``flyte``: run tasks, inspect and resume runs, manage the cache, list plugins, serialise specs."""

from __future__ import annotations

import inspect
import json
import os
import sys
from typing import Any

import click

from flyte._runtime.placement import MODES as ISOLATION_MODES
from flyte.cli import _records, _serve, _triggers
from flyte.cli._journal import journal as _journal_group


class _Cli(click.Group):
    """The ``flyte`` group: a user's mistake ends in one line (what is wrong, how to fix it), no traceback."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        parent = super().main
        if not standalone_mode:
            return parent(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = parent(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.UsageError as e:
            hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
            click.echo(f"Error: {_clean(e.format_message())}{hint}", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"Error: {_clean(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except Exception as e:
            if not _is_user_error(e):
                raise
            click.echo(f"Error: {_clean(str(e))}", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _is_user_error(e: BaseException) -> bool:
    """Errors that describe a mistake in the command, the config or the task module."""
    from flyte.errors import BaseRuntimeError, InvalidParameterError

    return isinstance(e, (InvalidParameterError, BaseRuntimeError))


def _clean(msg: str) -> str:
    """One line, and class names rather than ``<class 'pkg.mod.Name'>`` reprs."""
    import re

    msg = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", msg)
    return " ".join(line.strip() for line in msg.strip().splitlines() if line.strip())


@click.group(cls=_Cli)
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


JOURNAL_HELP = (
    "Where runs are recorded: a SQLite file or postgresql://USER@HOST:PORT/DB"
    " (default: $FLYTE_JOURNAL, else flyte.toml's journal, else the home's journal.db)."
)


def _use_journal(journal: str | None, command: str) -> None:
    """``--journal``: set as $FLYTE_JOURNAL, so this process and every process it starts use it."""
    if journal is not None:
        from flyte._runtime.journal_backend import check_journal

        os.environ["FLYTE_JOURNAL"] = check_journal(journal, command, "--journal")


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


RUN_DEPLOYED = "deployed-task"
"""``flyte run deployed-task ENV.TASK[:VERSION] --x 1``: run a task recorded by ``flyte deploy``."""


@cli.command(cls=_RunCommand, context_settings={"ignore_unknown_options": True})
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("task_name")
@click.option("--local", is_flag=True, help="Run on this machine (the default; accepted for Flyte 2 habits).")
@click.option("--remote", is_flag=True, hidden=True)
@click.option("--project", "-p", default=None, help="Project (recorded with the run).")
@click.option("--domain", "-d", default=None, help="Domain (recorded with the run).")
@click.option(
    "--copy-style",
    type=click.Choice(["loaded_modules", "all", "none", "custom"]),
    default=None,
    help="Code bundling of a backend (recorded; local runs use the code in place).",
)
@click.option("--service-account", default=None, help="Service account (recorded with the run).")
@click.option("--name", help="Name of the run (default: generated).")
@click.option("--follow", "-f", is_flag=True, help="Show the run's actions as they run and end.")
@click.option("--overwrite-cache", is_flag=True, help="Re-execute cached tasks and overwrite their entries.")
@click.option("--disable-run-cache", is_flag=True, help="Do not read or write the cache in this run.")
@click.option(
    "--max-action-concurrency", type=click.IntRange(min=1), default=None, help="Most actions at once."
)
@click.option("--env", "-e", "env_vars", multiple=True, help="KEY=VALUE for the run's tasks (repeatable).")
@click.option(
    "--raw-data-path", default=None, help="Where the run's data goes (a folder, file:// or s3://...)."
)
@click.option(
    "--recover-from",
    default=None,
    metavar="RUN",
    help="Reuse RUN's succeeded actions whose task code and inputs are unchanged; the rest executes.",
)
@click.option(
    "--force-rerun-action",
    "force_rerun",
    multiple=True,
    metavar="ACTION",
    help="With --recover-from: execute this action of RUN again (ID prefix or task name; repeatable).",
)
@click.option(
    "--isolation",
    type=click.Choice(list(ISOLATION_MODES)),
    default=None,
    help="Where actions execute (default: per environment).",
)
@click.option(
    "--executor",
    default=None,
    help="Where child actions run: local (default) or a cluster, e.g. ray://HOST:PORT (flyte-plugin-ray).",
)
@click.option("--quiet", is_flag=True, help="No live progress view.")
@click.option("--journal", default=None, metavar="URL", help=JOURNAL_HELP)
@click.pass_context
def run(
    ctx: click.Context,
    file: str,
    task_name: str,
    local: bool,
    remote: bool,
    project: str | None,
    domain: str | None,
    copy_style: str | None,
    service_account: str | None,
    name: str | None,
    follow: bool,
    overwrite_cache: bool,
    disable_run_cache: bool,
    max_action_concurrency: int | None,
    env_vars: tuple[str, ...],
    raw_data_path: str | None,
    recover_from: str | None,
    force_rerun: tuple[str, ...],
    isolation: str | None,
    executor: str | None,
    quiet: bool,
    journal: str | None,
) -> None:
    """Run TASK_NAME from FILE on this machine; task inputs are options: --x 3 --items '[1,2]'.

    `flyte run FILE TASK_NAME --help` lists the task's inputs.
    """
    from flyte._run import _new_run_name, import_module_from_file, with_runcontext
    from flyte._task import TaskTemplate
    from flyte.cli._params import task_options

    if remote:
        raise click.UsageError(
            "--remote: no Flyte backend is configured; this SDK runs tasks on this machine. "
            "Drop --remote (or pass --local)"
        )
    if follow and quiet:
        raise click.UsageError("--follow and --quiet contradict each other; pass one of them")
    if force_rerun and not recover_from:
        raise click.UsageError(
            "--force-rerun-action needs --recover-from RUN (or use `flyte rerun RUN --recover`)"
        )
    envs = _parse_env(env_vars)
    if file != RUN_DEPLOYED and not os.path.isfile(file):
        raise click.BadParameter(
            f"{file!r} is not a file (to run a deployed task: flyte run {RUN_DEPLOYED} ENV.TASK[:VERSION])",
            param_hint="FILE",
        )
    _use_journal(journal, "flyte run")
    _init()
    if executor is not None:
        from flyte._config import get_settings
        from flyte._runtime.placement.cluster import check_executor

        check_executor(executor)
        get_settings().executor = executor
    if raw_data_path and "://" not in raw_data_path:
        raw_data_path = "file://" + os.path.abspath(os.path.expanduser(raw_data_path))
    if file == RUN_DEPLOYED and not os.path.isfile(file):
        task = _deployed_task(task_name)
    else:
        module = import_module_from_file(file)
        task = getattr(module, task_name, None)
    if not isinstance(task, TaskTemplate):
        tasks = sorted(k for k, v in vars(module).items() if isinstance(v, TaskTemplate))
        raise click.UsageError(
            f"{file} has no task named {task_name!r}; tasks there: {', '.join(tasks) or 'none'}"
        )
    doc = inspect.getdoc(getattr(task, "func", None)) or ""
    input_cmd = click.Command(
        task_name, params=task_options(task.interface), add_help_option=True, help=doc or None
    )
    try:
        with input_cmd.make_context(f"flyte run {file} {task_name}", list(ctx.meta["task_args"])) as ictx:
            inputs = dict(ictx.params)
    except click.exceptions.Exit:
        return
    run_name = name or _new_run_name()
    rc = with_runcontext(
        name=run_name,
        overwrite_cache=overwrite_cache,
        disable_run_cache=disable_run_cache,
        env_vars=envs,
        max_action_concurrency=max_action_concurrency,
        raw_data_path=raw_data_path,
        isolation=isolation,
        project=project,
        domain=domain,
        copy_style=copy_style or "loaded_modules",
        service_account=service_account,
    )
    rc._recover_from = recover_from
    rc._force_rerun = force_rerun

    def start(listeners: list[Any]) -> Any:
        rc.listeners.extend(listeners)
        return rc.start(task, **inputs)

    _launch(run_name, start, follow, quiet)


def _deployed_task(ref: str) -> Any:
    """The deployed code of ``env.task[:version]`` (the latest deployed version when none is given)."""
    from flyte.errors import RemoteTaskNotFoundError
    from flyte.remote import Task

    name, _, version = ref.partition(":")
    try:
        return (
            Task.get(name, version=version or None, auto_version=None if version else "latest")
            .fetch()
            .template
        )
    except RemoteTaskNotFoundError as e:
        raise click.ClickException(f"{e}; see `flyte deploy FILE`") from None
    except ValueError as e:
        raise click.UsageError(str(e)) from None


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("env_names", nargs=-1)
@click.option("--all", "all_envs", is_flag=True, help="Deploy every environment of FILE (the default).")
@click.option(
    "--version", default=None, help="Version of the deployed tasks (default: a hash of their code)."
)
@click.option("--dry-run", is_flag=True, help="Validate and serialise only; record nothing.")
@click.option("--project", "-p", default=None, help="Project (recorded with the tasks).")
@click.option("--domain", "-d", default=None, help="Domain (recorded with the tasks).")
def deploy(
    file: str,
    env_names: tuple[str, ...],
    all_envs: bool,
    version: str | None,
    dry_run: bool,
    project: str | None,
    domain: str | None,
) -> None:
    """Record the tasks of FILE's environments (or just ENV_NAMES) so they can be run later by name:
    `flyte run deployed-task ENV.TASK[:VERSION]` or flyte.remote.Task.get(...)."""
    import flyte
    from flyte._environment import TaskEnvironment
    from flyte._run import import_module_from_file

    flyte.init_from_config(project=project, domain=domain)
    module = import_module_from_file(file)
    found = {v.name: v for v in vars(module).values() if isinstance(v, TaskEnvironment)}
    unknown = sorted(set(env_names) - set(found))
    if unknown:
        raise click.UsageError(
            f"{file} has no environment named {', '.join(unknown)}; "
            f"there: {', '.join(sorted(found)) or 'none'}"
        )
    envs = [found[n] for n in env_names] if env_names and not all_envs else list(found.values())
    if not envs:
        raise click.UsageError(f"{file} defines no TaskEnvironment")
    try:
        deployment = flyte.deploy(*envs, version=version, dry_run=dry_run)[0]
    except flyte.errors.DeploymentError as e:
        raise click.ClickException(str(e)) from None
    for denv in deployment.envs.values():
        for rows in denv.table_repr():
            row = dict(rows)
            click.echo(
                f"{'checked' if dry_run else 'deployed'} {row.get('name')} version {row.get('version')}"
            )


def _parse_env(env_vars: tuple[str, ...]) -> dict[str, str]:
    envs = {}
    for kv in env_vars:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"{kv!r} is not KEY=VALUE (e.g. -e LOG_LEVEL=debug)", param_hint="--env")
        envs[k] = v
    return envs


def _launch(run_name: str, start: Any, follow: bool, quiet: bool) -> None:
    """Start the run with the chosen view and report it; a failed run exits 1 with its error."""
    console = _console()
    listeners: list[Any] = []
    try:
        if console.is_terminal and not quiet:
            from flyte.cli._views import LiveProgress

            with LiveProgress(console) as progress:
                result = start([progress])
        else:
            if follow:
                from flyte.cli._views import FollowLines

                listeners.append(FollowLines(click.echo))
            result = start(listeners)
    except Exception as e:  # a failed run may raise (Python API) or return its error
        if _run_status(run_name) != "FAILED":
            raise
        _report_failure(run_name, e)
        return
    click.echo(f"run {result.name}: {result.status}")
    click.echo(f"record: {result.url}")
    error = getattr(result, "error", None)
    if error is not None:
        _report_failure(result.name, error, printed=True)
    click.echo(f"outputs: {_show(result._outputs)}")  # the task's value itself, not ActionOutputs


def _run_status(run_name: str) -> str | None:
    row = _journal().get_run(run_name)
    return None if row is None else str(row.status)


def _report_failure(run_name: str, error: BaseException, printed: bool = False) -> None:
    if not printed:
        from flyte._config import get_settings
        from flyte._runtime.journal_backend import run_url

        click.echo(f"run {run_name}: FAILED")
        click.echo(f"record: {run_url(get_settings().journal_path, run_name)}")
    kind = getattr(error, "_flyte_original_type", type(error)).__name__  # the user's type, not the wrapper
    click.echo(f"error: {kind}: {_clean(str(error))}", err=True)
    where = _user_frame(error, run_name)
    if where:
        click.echo(f"  at {where}", err=True)
    if _recovery_helps(run_name, error):
        click.echo(f"resume it with: flyte rerun {run_name} --recover", err=True)
        click.echo(
            f"or, after changing the code: flyte run --recover-from {run_name} FILE TASK ... (a new run)",
            err=True,
        )
    click.echo(f"details: flyte runs show {run_name} --traceback", err=True)
    sys.exit(1)


def _user_frame(error: BaseException, run_name: str) -> str | None:
    """``file:line in function`` of the innermost frame of the user's code where the run failed: from
    the exception's traceback, else from the traceback the journal recorded (process workers)."""
    import traceback

    from flyte.cli._views import user_frames

    tb = error.__traceback__
    cause: BaseException | None = error
    while tb is None and cause is not None:  # a wrapper may carry the original as its cause
        cause = cause.__cause__
        tb = cause.__traceback__ if cause is not None else None
    text = "".join(traceback.format_tb(tb)) if tb is not None else ""
    if cause is not None:  # a worker process's traceback comes as a note of the rebuilt error
        text += "\n".join(str(n) for n in getattr(cause, "__notes__", None) or ())
    if not text:
        recorded = _journal().first_error(run_name, "FAILED")
        try:
            text = json.loads(recorded).get("traceback", "") if recorded else ""
        except Exception:
            text = ""
    frames = user_frames(text)
    if not frames:
        return None
    path, line, func = frames[-1]
    return f"{path}:{line} in {func}"


def _recovery_helps(run_name: str, error: BaseException) -> bool:
    """A recovery reuses what succeeded: worth suggesting when something did and the failure is not
    one a recovery repeats by design (a non-deterministic replay)."""
    from flyte.errors import NonDeterminismError, StorageError

    if isinstance(error, NonDeterminismError):
        return False
    if isinstance(error, StorageError):
        return True  # once the store is fixed (issue 18): what finished is kept
    return bool(_journal().action_count(run_name, status="SUCCEEDED", children_only=True))


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

    from flyte._runtime import reader
    from flyte.cli._views import STATUS_STYLE, effective_status, fmt_seconds

    _init()
    j = _journal()
    rows = reader.list_runs(statuses=[status.upper()] if status else None, limit=limit, j=j)
    table = Table(
        "name",
        "task",
        "status",
        "started",
        "duration",
        "actions",
        caption="duration: time executing, summed over the first run and its recoveries",
    )
    import datetime as dt

    for r in rows:
        status = effective_status(r)
        style = STATUS_STYLE.get(status, "white")
        table.add_row(
            r["name"],
            r["task_name"],
            f"[{style}]{status}[/]",
            dt.datetime.fromtimestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M:%S"),
            fmt_seconds(reader.run_duration(r, j)),
            str(reader.action_count(r["name"], j)),
        )
    _console().print(table)


@runs.command("show")
@click.argument("run_name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--traceback", "show_tb", is_flag=True, help="Each failed attempt's traceback (your code's frames)."
)
def runs_show(run_name: str, as_json: bool, show_tb: bool) -> None:
    """The action tree of a run: status, attempts, duration, cache hits, errors."""
    from flyte._runtime import reader
    from flyte.cli._views import effective_status

    _init()
    j = _journal()
    run_row = reader.get_run(run_name, j)
    if run_row is None:
        raise click.ClickException(f"no run named {run_name!r}; see `flyte runs list`")
    shown = (
        "action_id, parent_id, position, kind, task_name, status, attempts, cache_hit, started_at,"
        " ended_at, error, group_name, mode, meta"
    ).split(", ")
    actions = [{k: a[k] for k in shown} for a in reader.list_actions(run_name, j)]
    reports = _action_reports(run_row["store_prefix"], actions)
    segments = reader.run_segments(run_row, j)
    attempts = reader.run_attempts(run_name, j)
    durations = [s["duration"] for s in segments if s["duration"] is not None]
    duration = sum(durations) if durations else None
    leases = j.lease_events(run=run_name)  # Cache(serialize=True) waits, reuses, takeovers
    fired_by, deliveries = j.trigger_fire_of_run(run_name), j.notify_deliveries(run_name)  # issue 22
    if as_json:
        by_action: dict[str, list[dict[str, Any]]] = {}
        for at in attempts:
            by_action.setdefault(at["action_id"], []).append(
                {k: v for k, v in at.items() if k != "action_id"}
            )
        out = {
            "run": {
                **{
                    k: run_row[k]
                    for k in ("name", "task_name", "status", "created_at", "started_at", "ended_at", "error")
                },
                "effective_status": effective_status(run_row),
                "settings": json.loads(run_row["settings"] or "{}"),
                "duration": duration,
                "segments": segments,
                "trigger": fired_by and {k: v for k, v in fired_by.items() if k != "spec"},
                "notifications": [{k: v for k, v in d.items() if k != "spec"} for d in deliveries],
            },
            "actions": [
                {
                    **dict(a),
                    "reports": [{"attempt": n, "uri": u} for n, u in reports.get(a["action_id"], [])],
                    "attempt_records": by_action.get(a["action_id"], []),
                }
                for a in actions
            ],
            "cache_leases": leases,
        }
        click.echo(json.dumps(out, indent=2, default=str))
        return
    from flyte.cli._views import action_tree, attempt_lines, lease_lines, segment_lines

    _console().print(action_tree(run_row, actions, duration=duration))
    lines = segment_lines(segments)
    if lines:
        click.echo("segments (the first run, then each recovery):")
        for line in lines:
            click.echo(line)
    failed = attempt_lines(actions, attempts, show_tb)
    if failed:
        click.echo("failed attempts:")
        for line in failed:
            click.echo(line)
        if not show_tb:
            click.echo(f"  (flyte runs show {run_name} --traceback: where in your code each one failed)")
    if leases:
        click.echo("serialized cache (waits, reuses and takeovers across runs):")
        for line in lease_lines(leases, {a["action_id"]: a["task_name"] for a in actions}):
            click.echo(line)
    if fired_by:
        click.echo(f"started by trigger {fired_by['key']} (occurrence {_ts(fired_by['scheduled_at'])})")
    if deliveries:
        click.echo("notifications (each attempt):")
        for d in deliveries:
            err = f": {d['error']}" if d["error"] else ""
            where = f"{d['kind']} to {d['target']} on {d['phase']}"
            click.echo(f"  #{d['n']} {where}, attempt {d['attempt']}: {d['status']}{err}")
    if reports:
        click.echo("reports (flyte ui shows them on the action's page):")
        for a in actions:
            for n, uri in reports.get(a["action_id"], []):
                click.echo(f"  {a['task_name']} {a['action_id'][:12]} attempt {n}: {uri}")


def _ts(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def _action_reports(store_prefix: str | None, actions: list[Any]) -> dict[str, list[tuple[int, str]]]:
    """The HTML reports kept for each action (``flyte.report``), by action ID."""
    from flyte._runtime import reports

    out: dict[str, list[tuple[int, str]]] = {}
    for a in actions:
        if a["kind"] not in (None, "task"):
            continue
        found = reports.find(store_prefix, a["action_id"], a["attempts"] or 1)
        if found:
            out[a["action_id"]] = found
    return out


_records.register(runs)  # flyte runs import / export


@cli.command()
@click.argument("run_name")
@click.option(
    "--recover/--no-recover",
    default=True,
    show_default=True,
    help="Resume: actions that already succeeded are not run again.",
)
@click.option(
    "--force-rerun-action",
    "force_rerun",
    multiple=True,
    metavar="ACTION",
    help="With --recover: execute this action again although it succeeded, with its callers and"
    " everything it calls (an action ID prefix as `flyte runs show` prints it, or a task name;"
    " repeatable).",
)
@click.option(
    "--name", default=None, help="Run into a new run of this name (RUN_NAME's record stays as it is)."
)
@click.option(
    "--env", "-e", "env_vars", multiple=True, help="KEY=VALUE added to the recorded env (repeatable)."
)
@click.option("--project", "-p", default=None, help="Project (recorded with the run).")
@click.option("--domain", "-d", default=None, help="Domain (recorded with the run).")
@click.option("--follow", "-f", is_flag=True, help="Show the run's actions as they run and end.")
@click.option("--quiet", is_flag=True, help="No live progress view.")
@click.option("--journal", default=None, metavar="URL", help=JOURNAL_HELP)
def rerun(
    run_name: str,
    recover: bool,
    force_rerun: tuple[str, ...],
    name: str | None,
    env_vars: tuple[str, ...],
    project: str | None,
    domain: str | None,
    follow: bool,
    quiet: bool,
    journal: str | None,
) -> None:
    """Run a recorded run again (by default resuming it after a crash or a failure)."""
    from flyte._run import _new_run_name, _rerun

    if force_rerun and not recover:
        raise click.UsageError("--force-rerun-action needs --recover")
    if follow and quiet:
        raise click.UsageError("--follow and --quiet contradict each other; pass one of them")
    envs = _parse_env(env_vars)
    _use_journal(journal, "flyte rerun")
    _init()
    new_name = name or (run_name if recover else _new_run_name())

    def start(listeners: list[Any]) -> Any:
        return _rerun(  # a failed run is shown, not raised
            run_name,
            recover=recover,
            force_rerun_actions=force_rerun,
            env_vars=envs,
            name=new_name,
            listeners=listeners,
            project=project,
            domain=domain,
        )

    _launch(new_name, start, follow, quiet)


# ---- flyte cache ----------------------------------------------------------------------------------
@cli.group()
def cache() -> None:
    """Manage the task cache shared by all runs."""


@cache.command("clear")
@click.option("--task", "task_name", default=None, help="Only entries of this task (env.func).")
def cache_clear(task_name: str | None) -> None:
    """Delete cache entries."""
    _init()
    n = _journal().cache_clear(task_name or None)
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
@click.option(
    "--journal", "journal_path", default=None, help="Journal to show: a path or URL (default: this home's)."
)
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
    from flyte._runtime.journal_backend import check_journal, redact
    from flyte.errors import InvalidParameterError

    try:
        path = check_journal(path, "flyte ui", "--journal")
    except InvalidParameterError as e:
        raise click.ClickException(str(e)) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host}: anyone who can reach it can read your runs", err=True)

    def ready(url: str) -> None:
        click.echo(f"flyte ui: {url}  (journal {redact(path)}, read-only; Ctrl+C stops)")
        sys.stdout.flush()
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    serve(path, host, port, on_ready=ready)


cli.add_command(_serve.serve)  # flyte serve FILE [APP]
cli.add_command(_triggers.triggers)  # flyte triggers serve FILE / list (issue 22)
cli.add_command(_journal_group)  # flyte journal migrate SRC DST (issue 25)


def main() -> None:
    try:
        from flyte._plugins.manager import add_cli_commands

        add_cli_commands(cli)
    except Exception:
        pass
    cli()


if __name__ == "__main__":
    main()
