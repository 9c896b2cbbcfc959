"""``flyte journal migrate SRC DST``: a whole journal copied into another (SQLite <-> PostgreSQL).

Every run with its actions, attempts, segments and deliveries, the cache, specs, deployments, cache
leases and their history, trigger state: values unchanged, in one transaction on DST (all or nothing).
DST must hold none of SRC's runs; a second migration of the same journal is refused, not doubled.
"""

from __future__ import annotations

import click


@click.group("journal")
def journal() -> None:
    """Journal maintenance (the database of runs: SQLite or PostgreSQL)."""


@journal.command("migrate")
@click.argument("src")
@click.argument("dst")
def migrate(src: str, dst: str) -> None:
    """Copy the journal SRC into DST: paths, sqlite:///ABS/PATH or postgresql://... URLs.

    Example: flyte journal migrate sqlite:///home/me/.flyte/journal.db postgresql://me@db:5432/flyte
    """
    from flyte._runtime.journal import Journal
    from flyte._runtime.journal_backend import check_journal, is_postgres, redact
    from flyte._runtime.records import RunsExist, migrate_journal
    from flyte.errors import InvalidParameterError, StorageError

    try:
        src_t = check_journal(src, "flyte journal migrate", "SRC")
        dst_t = check_journal(dst, "flyte journal migrate", "DST")
    except InvalidParameterError as e:
        raise click.ClickException(str(e)) from None
    if not is_postgres(src_t):
        import os

        if not os.path.isfile(src_t):
            raise click.ClickException(f"SRC: no journal at {src_t}")
        src_t = os.path.abspath(src_t)
        if not is_postgres(dst_t) and os.path.exists(dst_t) and os.path.samefile(dst_t, src_t):
            raise click.ClickException("SRC and DST are the same journal")
    elif src_t == dst_t:
        raise click.ClickException("SRC and DST are the same journal")
    try:
        source, target = Journal(src_t), Journal(dst_t)
        source.replay_redo()  # steps a crashed run left in its redo log are migrated too
    except (StorageError, InvalidParameterError) as e:
        raise click.ClickException(str(e)) from None
    try:
        counts = migrate_journal(source, target)
    except RunsExist as e:
        raise click.ClickException(
            f"refusing to migrate into {redact(dst_t)}: {e}; choose an empty journal or remove those runs"
        ) from None
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    finally:
        source.close()
        target.close()
    rows = sum(counts.values())
    click.echo(
        f"migrated {counts.get('runs', 0)} runs ({counts.get('actions', 0)} actions, {rows} rows in all)"
        f" from {redact(src_t)} to {redact(dst_t)}"
    )
