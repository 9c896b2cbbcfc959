"""Issue 25: `flyte journal migrate SRC DST` copies a whole journal between SQLite and PostgreSQL.

A journal holding real runs (a success, a failure after retries, cache hits and a serialized cache
lease, a failed run recovered by `flyte rerun --recover`) is migrated both ways through a real
PostgreSQL server; `flyte runs list/show` on the destination print what they print on the source,
every table's rows are equal, and a second migration is refused without writing anything.
"""

from __future__ import annotations

from pathlib import Path

import flyte
import pytest
from click.testing import CliRunner
from flyte._runtime.journal import Journal
from flyte._runtime.journal_backend import check_journal
from flyte._runtime.records import MIGRATED, _ensure_tables
from flyte.cli.main import cli

env = flyte.TaskEnvironment(name="jmigrate")


@env.task(cache="auto")
async def square(x: int) -> int:
    return x * x


@env.task(cache=flyte.Cache(behavior="auto", serialize=True))
async def shared(x: int) -> int:
    return x + 100


@env.task(retries=2)
async def always_fails(x: int) -> int:
    raise ValueError(f"always {x}")


@env.task
async def gate(marker: str) -> int:
    if not Path(marker).exists():
        raise RuntimeError("the gate is closed")
    return 1


@env.task
async def main(n: int) -> int:
    return sum([await square(i) for i in range(n)]) + await shared(n)


@env.task
async def recoverable(n: int, marker: str) -> int:
    total = sum([await square(i) for i in range(n)])
    return total + await gate(marker)


def _cli(*args: str, ok: bool = True) -> str:
    res = CliRunner().invoke(cli, list(args))
    if ok:
        assert res.exit_code == 0, res.output
    return res.output


def _history(tmp_path: Path) -> None:
    flyte.with_runcontext(name="m-ok").run(main, n=3)
    flyte.with_runcontext(name="m-hit").run(main, n=3)  # cache hits, the serialized key reused
    with pytest.raises(Exception, match="always 5"):
        flyte.with_runcontext(name="m-failed").run(always_fails, x=5)
    marker = tmp_path / "gate-open"
    with pytest.raises(Exception, match="the gate is closed"):
        flyte.with_runcontext(name="m-recovered").run(recoverable, n=2, marker=str(marker))
    marker.write_text("open")
    assert flyte.rerun("m-recovered", recover=True).status == "SUCCEEDED"


def _shown(names: list[str]) -> dict[str, str]:
    return {n: _cli("runs", "show", n) for n in names} | {"--json": _cli("runs", "show", "m-ok", "--json")}


def _tables(url: str) -> dict[str, list[tuple[object, ...]]]:
    j = Journal(check_journal(url, "test", "url"))
    _ensure_tables(j)
    try:
        out = {}
        for table, _ in MIGRATED:
            cols = [c for c in (r["name"] for r in j.query(f"PRAGMA table_info({table})")) if c != "rowid"]
            out[table] = sorted(
                (
                    tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                    for r in j.query(f"SELECT {','.join(cols)} FROM {table}")
                ),
                key=repr,
            )
        return out
    finally:
        j.close()


@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_migrate_copies_the_whole_history(
    direction: str, postgres_journal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_url = f"sqlite://{tmp_path / 'journal.db'}"
    src, dst = (sqlite_url, postgres_journal)
    if direction == "postgresql-to-sqlite":
        src, dst = dst, src
    monkeypatch.setenv("FLYTE_JOURNAL", src)
    _history(tmp_path)
    names = ["m-ok", "m-hit", "m-failed", "m-recovered"]
    before_list, before = _cli("runs", "list"), _shown(names)
    assert "always 5" in before["m-failed"] and "recover" in before["m-recovered"].lower()
    src_rows = _tables(src)
    empty = [t for t in ("runs", "actions", "attempts", "segments", "cache", "specs") if not src_rows[t]]
    assert not empty
    assert src_rows["cache_lease_events"] and src_rows["cache_leases"] == []

    out = _cli("journal", "migrate", src, dst)
    assert "migrated 4 runs" in out
    assert _tables(dst) == src_rows  # every value of every table, unchanged

    monkeypatch.setenv("FLYTE_JOURNAL", dst)
    assert _cli("runs", "list") == before_list
    assert _shown(names) == before

    again = CliRunner().invoke(cli, ["journal", "migrate", src, dst])
    assert again.exit_code == 1
    assert "Traceback" not in again.output and len(again.output.strip().splitlines()) == 1
    assert "4 of its runs are already in the destination" in again.output
    assert _tables(dst) == src_rows  # nothing written by the refused migration


def test_a_clash_with_one_run_writes_nothing(postgres_journal: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    src = str(tmp_path / "src.db")
    monkeypatch.setenv("FLYTE_JOURNAL", src)
    flyte.with_runcontext(name="m-a").run(main, n=2)
    flyte.with_runcontext(name="m-b").run(main, n=2)
    monkeypatch.setenv("FLYTE_JOURNAL", postgres_journal)
    monkeypatch.setenv("FLYTE_RAW_DATA_PATH", (tmp_path / "other-store").as_uri())
    flyte.init_from_config()
    flyte.with_runcontext(name="m-b").run(main, n=1)  # the destination has its own m-b
    dst_before = _tables(postgres_journal)
    res = CliRunner().invoke(cli, ["journal", "migrate", src, postgres_journal])
    assert res.exit_code == 1 and "1 of its runs are already in the destination (m-b)" in res.output
    assert _tables(postgres_journal) == dst_before


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    for args, msg in [
        (["nothing/here.db", str(tmp_path / "x.db")], "SRC: no journal at"),
        (["mysql://h/db", str(tmp_path / "x.db")], "SRC"),
        ([str(tmp_path / "x.db"), "ftp://h/db"], "DST"),
    ]:
        res = CliRunner().invoke(cli, ["journal", "migrate", *args])
        assert res.exit_code != 0 and msg in res.output and "Traceback" not in res.output, res.output
    Journal(str(tmp_path / "same.db")).close()
    res = CliRunner().invoke(
        cli, ["journal", "migrate", str(tmp_path / "same.db"), f"sqlite://{tmp_path}/same.db"]
    )
    assert res.exit_code == 1 and "same journal" in res.output


def test_a_running_source_is_refused(postgres_journal: str, tmp_path: Path) -> None:
    """A run whose driver still renews its lease in SRC would go on writing there after the copy."""
    src = str(tmp_path / "live.db")
    j = Journal(src)
    j.run_lease_take("busy", "driver-1", "host-a", 1, 30.0, lambda h: False)
    j.close()
    res = CliRunner().invoke(cli, ["journal", "migrate", src, postgres_journal])
    assert res.exit_code == 1 and "still running (busy)" in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
