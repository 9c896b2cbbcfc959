"""Issue 25: `flyte ui` on a PostgreSQL journal. Runs recorded there are shown as the same runs
migrated into a SQLite journal are shown (the viewer's data layer compared on both), the pages and
the JSON API answer over HTTP, and the viewer's session cannot write."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")

import flyte
from click.testing import CliRunner
from flyte._runtime.journal import JournalView
from flyte.cli.main import cli
from flyte.ui._data import JournalReader
from ui_support import Server, _wait_listening

env = flyte.TaskEnvironment(name="uipg")


@env.task(cache="auto")
async def square(x: int) -> int:
    return x * x


@env.task(retries=1)
async def broken(x: int) -> int:
    raise ValueError(f"broken {x}")


@env.task
async def main(n: int) -> int:
    return sum([await square(i) for i in range(n)])


def _ui(url: str, log: Path) -> Server:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flyte.cli.main", "ui", "--port", "0", "--journal", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for word in log.read_text(errors="replace").split():
            if word.startswith("http://"):
                host, port = word[len("http://") :].rstrip("/").rsplit(":", 1)
                server = Server(proc, word.rstrip("/"), host, int(port), log)
                _wait_listening(host, int(port), deadline)
                return server
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(log.read_text())


def test_the_viewer_reads_a_postgresql_journal(
    postgres_journal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYTE_JOURNAL", postgres_journal)
    flyte.with_runcontext(name="ui-ok").run(main, n=3)
    flyte.with_runcontext(name="ui-hit").run(main, n=3)
    with pytest.raises(Exception, match="broken 2"):
        flyte.with_runcontext(name="ui-failed").run(broken, x=2)
    copy = tmp_path / "copy.db"
    res = CliRunner().invoke(cli, ["journal", "migrate", postgres_journal, str(copy)])
    assert res.exit_code == 0, res.output

    pg, lite = JournalReader(postgres_journal), JournalReader(str(copy))

    def same(a: object, b: object) -> None:
        strip = (lambda r: dataclasses.replace(r, rowid=0)) if dataclasses.is_dataclass(a) else (lambda r: r)
        assert strip(a) == strip(b)  # rowid: each journal's own insertion number

    pg_page, lite_page = pg.list_runs(), lite.list_runs()
    assert [r.name for r in pg_page.runs] == ["ui-failed", "ui-hit", "ui-ok"]
    for a, b in zip(pg_page.runs, lite_page.runs, strict=True):
        same(a, b)
    assert pg_page.total == 3 and pg.list_runs(status="FAILED").total == 1
    assert [r.name for r in pg.list_runs(task="broken").runs] == ["ui-failed"]
    assert pg.task_names() == lite.task_names()
    for name in ("ui-ok", "ui-hit", "ui-failed"):
        run = pg.get_run(name)
        assert run is not None
        same(run, lite.get_run(name))
        assert pg.run_actions(name) == lite.run_actions(name)
        assert pg.run_state(name)["status"] == lite.run_state(name)["status"]  # type: ignore[index]
    actions, _ = pg.run_actions("ui-hit")
    child = next(a for a in actions if a.task_name.endswith("square"))
    assert pg.action_detail(pg.get_run("ui-hit"), child.action_id) == lite.action_detail(  # type: ignore[arg-type]
        lite.get_run("ui-hit"),  # type: ignore[arg-type]
        child.action_id,
    )
    assert pg.list_state()

    view = JournalView.open(postgres_journal)  # the viewer's session refuses writes
    try:
        with pytest.raises(Exception, match="read-only"):
            view.conn.execute("DELETE FROM runs")
    finally:
        view.conn.close()
    assert len(pg.list_runs().runs) == 3

    server = _ui(postgres_journal, tmp_path / "ui.log")
    try:
        status, _, body = server.request("/")
        assert status == 200 and all(n in body.decode() for n in ("ui-ok", "ui-hit", "ui-failed"))
        data = server.get_json("/api/runs?status=FAILED")
        assert [r["name"] for r in data["runs"]] == ["ui-failed"]
        status, _, body = server.request("/runs/ui-hit")
        assert status == 200 and "uipg.square" in body.decode()
    finally:
        server.stop()
