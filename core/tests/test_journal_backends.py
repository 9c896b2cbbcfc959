"""Issue 25: the same journal contract on SQLite (the default) and on PostgreSQL.

Each contract test runs twice: once on a SQLite file, once on a fresh database of a real PostgreSQL
server (``postgres_journal``, from the flyte.testing plugin; skipped only where PostgreSQL is not
installed). The journal is chosen as users choose it: ``$FLYTE_JOURNAL`` (inherited by driver
processes), ``flyte.init(journal=...)``, ``journal`` in flyte.toml or ``--journal``.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import flyte
import flyte.errors
import pytest
from click.testing import CliRunner
from conftest import spawn
from flyte._runtime.journal import SCHEMA_VERSION, Journal, open_journal
from flyte.cli.main import cli

env = flyte.TaskEnvironment(name="jbackends")


@env.task(cache="auto")
async def square(x: int) -> int:
    return x * x


@env.task(retries=1)
async def flaky(marker: str) -> int:
    p = Path(marker)
    if not p.exists():
        p.write_text("tried")
        raise ValueError("the first try fails")
    return 7


@env.task
async def main(n: int, marker: str) -> int:
    total = 0
    for i in range(n):
        total += await square(i)
    return total + await flaky(marker)


@env.task
async def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A journal shared by every process of the test (set as $FLYTE_JOURNAL), on each backend."""
    if request.param == "sqlite":
        url = str(tmp_path / "shared" / "journal.db")
    else:
        url = request.getfixturevalue("postgres_journal")
    monkeypatch.setenv("FLYTE_JOURNAL", url)
    return url


def _cli(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def test_runs_actions_attempts_and_cache_are_recorded(journal_url: str, tmp_path: Path) -> None:
    marker = str(tmp_path / "flaky")
    first = flyte.with_runcontext(name="jb-first").run(main, n=3, marker=marker)
    assert first.outputs()[0] == 0 + 1 + 4 + 7
    j = open_journal(journal_url)
    actions = j.list_actions("jb-first")
    assert Counter(a["task_name"] for a in actions) == {
        "jbackends.main": 1,
        "jbackends.square": 3,
        "jbackends.flaky": 1,
    }
    assert {a["status"] for a in actions} == {"SUCCEEDED"}
    assert not any(a["cache_hit"] for a in actions)
    (flaky_id,) = [a["action_id"] for a in actions if a["task_name"] == "jbackends.flaky"]
    tries = j.list_attempts("jb-first", flaky_id)
    assert [t["status"] for t in tries][:1] == ["FAILED"] and "the first try fails" in tries[0]["error"]
    assert j.get_run("jb-first").status == "SUCCEEDED"  # type: ignore[union-attr]

    second = flyte.with_runcontext(name="jb-second").run(main, n=3, marker=marker)
    assert second.outputs()[0] == 12
    hits = [a for a in j.list_actions("jb-second") if a["task_name"] == "jbackends.square"]
    assert [a["cache_hit"] for a in hits] == [1, 1, 1]

    with pytest.raises(Exception, match="boom 3"):
        flyte.with_runcontext(name="jb-failed").run(boom, x=3)
    failed = j.get_run("jb-failed")
    assert failed is not None and failed.status == "FAILED" and "boom 3" in (failed.error or "")

    listing = _cli("runs", "list")
    for name in ("jb-first", "jb-second", "jb-failed"):
        assert name in listing
    shown = _cli("runs", "show", "jb-first")
    assert "SUCCEEDED" in shown and "jbackends.square" in shown
    assert [r.name for r in flyte.remote.Run.listall()][:3] == ["jb-failed", "jb-second", "jb-first"]


def _lines(workdir: Path) -> list[str]:
    p = workdir / "marker.txt"
    return p.read_text().splitlines() if p.exists() else []


def test_a_killed_driver_is_recovered_from_another_home(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver SIGKILLed mid-chain; a second driver, with another FLYTE_HOME but the same journal
    and store, refuses to take the run while the first lives, then recovers it once it is dead:
    nothing acknowledged runs again."""
    store = (tmp_path / "store").as_uri()
    monkeypatch.setenv("FLYTE_RAW_DATA_PATH", store)
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = spawn(
        "import flyte, chain_app;"
        f" flyte.with_runcontext(name='chain').run(chain_app.main, n=10**6, workdir={str(workdir)!r})",
        home=tmp_path / "home-a",
    )
    try:
        end = time.time() + 60
        while sum(ln.startswith("ack") for ln in _lines(workdir)) < 30:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < end, "the chain did not start"
            time.sleep(0.01)
        with pytest.raises(flyte.errors.InitializationError, match="still running"):
            flyte.rerun("chain", recover=True)  # two drivers never own one run
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    acked = [int(ln.split()[1]) for ln in _lines(workdir) if ln.startswith("ack")]
    assert acked == list(range(len(acked)))
    (workdir / "limit").write_text(str(len(acked) + 3))

    monkeypatch.setenv("FLYTE_HOME", str(tmp_path / "home-b"))
    run = flyte.rerun("chain", recover=True)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == len(acked) + 3
    runs = Counter(ln for ln in _lines(workdir) if ln.startswith("child"))
    again = [i for i in acked if runs[f"child {i}"] != 1]
    assert not again, f"acknowledged steps ran again after the crash: {again[:10]}"
    assert all(runs[f"child {i}"] >= 1 for i in range(len(acked) + 3))
    assert not (tmp_path / "home-b" / "journal.db").exists()  # the shared journal, not the home's


def test_one_of_racing_lease_takers_acquires(journal_url: str) -> None:
    """The check-then-claim transaction (SQLite's BEGIN IMMEDIATE; PostgreSQL's advisory lock) lets
    exactly one of several connections racing for a cache key take its lease."""
    import threading

    from flyte._runtime.journal import LeaseOwner

    journals = [Journal(journal_url) for _ in range(6)]
    barrier = threading.Barrier(len(journals))
    outcomes: list[str] = []

    def take(i: int) -> None:
        barrier.wait()
        owner = LeaseOwner("race", f"a{i}", 0, 100 + i, "elsewhere")
        outcomes.append(journals[i].lease_try_acquire("key", owner, 30, None, lambda h: False).outcome)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(journals))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["acquired"] + ["held"] * (len(journals) - 1)
    assert [e["event"] for e in journals[0].lease_events(key="key")] == ["acquired"]
    for j in journals:
        j.close()


def test_two_drivers_recovering_one_run_at_once_one_goes_on(
    journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the run's segments before either writes (a barrier holds them there); the new
    segment's key lets exactly one resume the run, the other gets FileExistsError."""
    import threading

    from flyte._runtime import journal as journal_module

    Journal(journal_url).run_created(
        "twice", "t", None, None, "main", b"", "RUNNING", 1.0, "p", "h", "u", 1, "{}"
    )
    barrier = threading.Barrier(2)
    computed = journal_module.new_segment

    def in_step(*args: object, **kw: object) -> object:
        out = computed(*args, **kw)  # type: ignore[arg-type]
        barrier.wait(timeout=30)
        return out

    monkeypatch.setattr(journal_module, "new_segment", in_step)
    outcomes: list[object] = []

    def resume(pid: int) -> None:
        j = Journal(journal_url)
        try:
            outcomes.append(j.run_resumed("twice", "RUNNING", 2.0, pid, "{}"))
        except FileExistsError as e:
            outcomes.append(e)
        finally:
            j.close()

    threads = [threading.Thread(target=resume, args=(pid,)) for pid in (11, 12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(map(type, outcomes), key=str) == sorted([int, FileExistsError], key=str), outcomes
    assert 1 in outcomes
    segs = journal_module.segments(open_journal(journal_url), "twice")
    assert [(s["n"], s["status"]) for s in segs] == [(0, "INTERRUPTED"), (1, "RUNNING")]


def test_a_dropped_postgresql_session_is_replaced(postgres_journal: str) -> None:
    """The server ends the journal's session (as a restart would): the statement that meets the
    dead session fails, the next ones run on a new session."""
    import psycopg

    j = Journal(postgres_journal)
    j.run_created("before", "t", None, None, "main", b"", "RUNNING", 1.0, "p", "h", "u", 1, "{}")
    with psycopg.connect(postgres_journal, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(psycopg.OperationalError):
        j.get_run("before")
    assert j.get_run("before") is not None
    j.run_created("after", "t", None, None, "main", b"", "RUNNING", 2.0, "p", "h", "u", 1, "{}")
    assert [r.name for r in j.list_runs(sort_by=("created_at", "asc"))] == ["before", "after"]
    j.close()


def test_unreachable_postgresql_is_a_storage_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(
        flyte.errors.StorageError, match=r"could not connect to the journal at postgresql://me:\*\*\*@"
    ) as e:
        Journal("postgresql://me:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(e.value)


def test_sqlite_url_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_JOURNAL", f"sqlite://{tmp_path}/x/journal.db")
    flyte.with_runcontext(name="jb-sqlite-url").run(square, x=4)
    rows = sqlite3.connect(tmp_path / "x" / "journal.db").execute("SELECT name FROM runs").fetchall()
    assert rows == [("jb-sqlite-url",)]


def test_a_run_record_moves_between_backends(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """`flyte runs export` from one backend, `flyte runs import` into the other: the run, its
    actions and attempts read the same there."""
    marker = str(tmp_path / "flaky")
    flyte.with_runcontext(name="jb-moved").run(main, n=2, marker=marker)
    source = open_journal(journal_url)
    _cli("runs", "export", "jb-moved")
    prefix = source.get_run("jb-moved").store_prefix  # type: ignore[union-attr]

    other = (
        str(tmp_path / "other.db")
        if journal_url.startswith("postgresql")
        else request.getfixturevalue("postgres_journal")
    )
    monkeypatch.setenv("FLYTE_JOURNAL", other)
    out = _cli("runs", "import", str(prefix))
    assert "imported run jb-moved (SUCCEEDED, 4 actions)" in out
    target = open_journal(other)
    import dataclasses

    moved = source.get_run("jb-moved")
    assert target.get_run("jb-moved") == dataclasses.replace(moved, pid=None)  # type: ignore[type-var]
    assert target.list_actions("jb-moved") == source.list_actions("jb-moved")
    assert target.list_attempts("jb-moved") == source.list_attempts("jb-moved")
    assert "jbackends.square" in _cli("runs", "show", "jb-moved")


def _set_version(url: str, version: int) -> None:
    sql = "UPDATE journal_info SET value=%s WHERE name='schema_version'"
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql, (str(version),))  # type: ignore[arg-type]
    else:
        conn = sqlite3.connect(url)
        conn.execute(sql.replace("%s", "?"), (str(version),))
        conn.commit()
        conn.close()


def test_a_journal_from_a_newer_flyte_is_refused(journal_url: str) -> None:
    Journal(journal_url).close()
    _set_version(journal_url, SCHEMA_VERSION)
    Journal(journal_url).close()  # its own version opens
    _set_version(journal_url, SCHEMA_VERSION + 1)
    with pytest.raises(flyte.errors.StorageError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade"):
        Journal(journal_url)


# ---- selection: flyte.init, flyte.toml, $FLYTE_JOURNAL, --journal --------------------------------
def _runs_in(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM runs ORDER BY name")]


def test_init_journal_records_in_postgresql(postgres_journal: str, flyte_home: Path) -> None:
    flyte.init(journal=postgres_journal)
    flyte.with_runcontext(name="jb-init").run(square, x=5)
    assert _runs_in(postgres_journal) == ["jb-init"]
    assert not (flyte_home / "journal.db").exists()


def test_flyte_toml_journal(postgres_journal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "flyte.toml").write_text(f'[flyte]\njournal = "{postgres_journal}"\n')
    monkeypatch.chdir(tmp_path)
    flyte.init_from_config()
    flyte.with_runcontext(name="jb-toml").run(square, x=2)
    assert _runs_in(postgres_journal) == ["jb-toml"]


def test_cli_run_journal(postgres_journal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `--journal` sets $FLYTE_JOURNAL for the process and its children: undone after the test
    monkeypatch.setenv("FLYTE_JOURNAL", str(tmp_path / "not-this.db"))
    app = tmp_path / "app.py"
    app.write_text(
        "import flyte\nenv = flyte.TaskEnvironment(name='jbcli')\n\n"
        "@env.task\nasync def hello(x: int) -> int:\n    return x + 1\n"
    )
    res = CliRunner().invoke(
        cli,
        ["run", "--journal", postgres_journal, "--name", "jb-cli", "--quiet", str(app), "hello", "--x", "1"],
    )
    assert res.exit_code == 0, res.output
    assert _runs_in(postgres_journal) == ["jb-cli"]


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "redis://h", "postgresql://h", "sqlite://relative.db"])
def test_bad_journal_names_the_setting_and_the_forms(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        flyte.errors.InvalidParameterError, match=r"flyte.init: invalid journal=.*postgresql://"
    ):
        flyte.init(journal=bad)
    monkeypatch.setenv("FLYTE_JOURNAL", bad)
    with pytest.raises(flyte.errors.InvalidParameterError, match=r"FLYTE_JOURNAL.*sqlite:///"):
        flyte._config.make_settings()
    monkeypatch.delenv("FLYTE_JOURNAL")
    (tmp_path / "flyte.toml").write_text(f'[flyte]\njournal = "{bad}"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(flyte.errors.InvalidParameterError, match=r"flyte.toml.*invalid journal="):
        flyte.init_from_config()
    res = CliRunner().invoke(cli, ["run", "--journal", bad, str(tmp_path / "flyte.toml"), "t"])
    assert res.exit_code != 0 and "flyte run: invalid --journal=" in res.output, res.output


def test_the_viewer_names_a_bad_journal_setting() -> None:
    """`flyte ui` reads PostgreSQL journals too (core/tests/ui/test_ui_postgres.py); another scheme
    is a one-line error naming --journal."""
    res = CliRunner().invoke(cli, ["ui", "--journal", "mysql://me@127.0.0.1:1/db"])
    assert res.exit_code != 0 and "--journal" in res.output and "Traceback" not in res.output, res.output


def test_a_password_is_not_shown() -> None:
    with pytest.raises(flyte.errors.InvalidParameterError) as e:
        flyte.init(journal="postgresql://me:s3cret@db.example")  # no database named
    assert "s3cret" not in str(e.value) and "me:***@" in str(e.value)


def test_import_flyte_does_not_import_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys, flyte; from flyte._runtime.journal import Journal;"
        f" Journal({str(tmp_path / 'j.db')!r}).close(); print('psycopg' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_dialect_rewrite() -> None:
    """What PgConnection sends for the journal's SQLite statements (checked without a server)."""
    from flyte._runtime.journal_backend import translate, translate_ddl

    assert translate("SELECT a FROM t WHERE x=?1 OR y=?1 OR z=?2") == (
        "SELECT a FROM t WHERE x=%s OR y=%s OR z=%s",
        (0, 0, 1),
    )
    assert translate("INSERT OR IGNORE INTO specs(identity, task_name, spec) VALUES(?,?,?)") == (
        "INSERT INTO specs(identity, task_name, spec) VALUES(%s,%s,%s) ON CONFLICT DO NOTHING",
        None,
    )
    sql, order = translate("INSERT OR REPLACE INTO runs(name, user, pid) VALUES(?,?,?)")
    assert order is None and sql == (
        'INSERT INTO runs(name, "user", pid) VALUES(%s,%s,%s)'
        ' ON CONFLICT (name) DO UPDATE SET "user"=EXCLUDED.user, pid=EXCLUDED.pid'
    )
    assert translate("SELECT x FROM t WHERE s LIKE '5%'")[0] == "SELECT x FROM t WHERE s LIKE '5%%'"
    assert translate_ddl(
        "CREATE TABLE IF NOT EXISTS c(k TEXT PRIMARY KEY, v BLOB, t REAL, n INTEGER) WITHOUT ROWID"
    ) == ("CREATE TABLE IF NOT EXISTS c(k TEXT PRIMARY KEY, v BYTEA, t DOUBLE PRECISION, n BIGINT)")
    assert translate_ddl("CREATE TABLE IF NOT EXISTS cache_lease_events(\n  key TEXT\n)").endswith(
        "key TEXT,\n  rowid BIGSERIAL\n)"
    )
    # the viewer's queries (issue 25): substring search, a table's existence
    assert translate("SELECT 1 FROM runs WHERE instr(task_name, ?) > 0")[0] == (
        "SELECT 1 FROM runs WHERE strpos(task_name, %s) > 0"
    )
    assert translate("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?")[0] == (
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name=%s"
    )
