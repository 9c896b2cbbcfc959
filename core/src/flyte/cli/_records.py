"""``flyte runs import URI`` and ``flyte runs export RUN``: run records kept in the run's object store.

A run whose data prefix is remote (``s3://...``) keeps ``<prefix>/_record/`` up to date while it runs
(see ``flyte._runtime.records.RecordWriter``). ``flyte runs import`` copies that record into this
machine's journal, after which ``flyte runs show`` and ``flyte rerun RUN --recover`` work here as on
the machine that ran it. Imports nothing heavy at module level (it is loaded with the CLI).
"""

from __future__ import annotations

import os
from typing import Any

import click


def _journal() -> Any:
    import flyte
    from flyte._config import get_settings
    from flyte._runtime.journal import open_journal

    flyte.init_from_config()
    return open_journal(get_settings().journal_path)


def _record_prefix(uri: str) -> str:
    """The run's prefix from what the user pasted (the prefix, its ``_record`` folder or manifest)."""
    from flyte._runtime.records import RECORD_DIR, RECORD_MANIFEST

    uri = uri.rstrip("/")
    for tail in (f"/{RECORD_DIR}/{RECORD_MANIFEST}", f"/{RECORD_DIR}"):
        if uri.endswith(tail):
            return uri[: -len(tail)]
    return uri


@click.command("import")
@click.argument("uri")
@click.option("--force", is_flag=True, help="Replace a run of the same name already in this journal.")
@click.option(
    "--module-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The run's task module on this machine (default: the path recorded where it ran).",
)
def import_run(uri: str, force: bool, module_file: str | None) -> None:
    """Import a run's record from its data prefix, e.g. s3://bucket/prefix/runs/NAME.

    Afterwards `flyte runs show NAME` and `flyte rerun NAME --recover` work on this machine. Pickled
    values in the record load only with the same FLYTE_PICKLE_KEY as the machine that wrote them.
    """
    from flyte._run import _check_run_name
    from flyte._runtime.records import import_record, read_record
    from flyte._runtime.store import store_for

    journal = _journal()
    prefix = _record_prefix(uri)
    try:
        run, rows = read_record(store_for(prefix), prefix)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    name = str(run.get("name") or "")
    _check_run_name(name)
    run["store_prefix"] = prefix  # where it was found is where its data is (not what the record says)
    run["pid"] = None  # no process of this machine runs it
    if module_file:
        run["module_file"] = os.path.abspath(module_file)
    try:
        n_actions, _ = import_record(journal, run, rows, replace=force)
    except FileExistsError as e:
        raise click.ClickException(f"{e}; pass --force to replace it") from None
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    status = run.get("status")
    click.echo(f"imported run {name} ({status}, {n_actions} actions) from {prefix}")
    click.echo(f"see it with: flyte runs show {name}")
    if status != "SUCCEEDED":
        click.echo(f"resume it with: flyte rerun {name} --recover")
    recorded = run.get("module_file")
    if recorded and not os.path.exists(str(recorded)):
        click.echo(
            f"note: its module {recorded} is not on this machine; pass --module-file to rerun it", err=True
        )


@click.command("export")
@click.argument("run_name")
def export_run(run_name: str) -> None:
    """Write RUN's record to its data prefix (done automatically for runs in a remote store)."""
    from flyte._runtime.records import RECORD_DIR, RecordWriter
    from flyte._runtime.store import store_for

    journal = _journal()
    row = journal.get_run(run_name)
    if row is None:
        raise click.ClickException(f"no run named {run_name!r}; see `flyte runs list`")
    prefix = row.store_prefix or ""
    RecordWriter(journal, run_name, prefix, store_for(prefix)).write(None, final=True)
    click.echo(f"exported the record of run {run_name} to {prefix.rstrip('/')}/{RECORD_DIR}/")


def register(group: click.Group) -> None:
    """Add ``import`` and ``export`` to the ``flyte runs`` group."""
    group.add_command(import_run)
    group.add_command(export_run)
