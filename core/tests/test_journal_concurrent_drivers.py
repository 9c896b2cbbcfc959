"""Issue 25: four driver processes share one PostgreSQL journal and one object store, each running
its own run at once (a fan-out of 200 beside a ``Cache(serialize=True)`` task whose key they all
share): every run succeeds, the serialized body runs once, `flyte runs list` shows the four runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import spawn
from flyte._runtime.journal import open_journal
from flyte.cli.main import cli

N = 200
DRIVERS = 4


def test_four_drivers_on_one_postgresql_journal(
    postgres_journal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYTE_JOURNAL", postgres_journal)
    monkeypatch.setenv("FLYTE_RAW_DATA_PATH", (tmp_path / "store").as_uri())
    monkeypatch.setenv("FLYTE_PICKLE_KEY", "shared-by-the-drivers")
    side, go = tmp_path / "side.log", tmp_path / "go"
    code = (
        "import json, os, time, flyte, fanout_shared_app as app\n"
        "flyte.init_from_config()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.005)\n"
        "name = os.environ['RUN']\n"
        f"run = flyte.with_runcontext(name=name).run(app.main, n={N})\n"
        "print(json.dumps({'run': name, 'status': run.status, 'value': run.outputs()[0]}))\n"
    )
    procs = [
        spawn(
            code, home=tmp_path / f"home-{k}", RUN=f"fan-{k}", SIDE_LOG=str(side), FLYTE_HOST_ID=f"host-{k}"
        )
        for k in range(DRIVERS)
    ]
    time.sleep(1.0)  # let the interpreters import flyte: the runs then start within milliseconds
    go.write_text("go")
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    expected = 42 + sum(i + 1 for i in range(N))
    assert sorted(r["run"] for r in results) == [f"fan-{k}" for k in range(DRIVERS)]
    assert all(r["status"] == "SUCCEEDED" and r["value"] == expected for r in results), results
    assert len(side.read_text().splitlines()) == 1  # the serialized body ran once for four runs

    j = open_journal(postgres_journal)
    rows = [j.get_run(f"fan-{k}") for k in range(DRIVERS)]
    assert max(r.started_at for r in rows) < min(r.ended_at for r in rows)  # type: ignore[union-attr,type-var]
    for k in range(DRIVERS):
        actions = j.list_actions(f"fan-{k}")
        assert len(actions) == N + 2 and {a["status"] for a in actions} == {"SUCCEEDED"}
    shared = [
        a for k in range(DRIVERS) for a in j.list_actions(f"fan-{k}") if a["task_name"].endswith("shared")
    ]
    assert sorted(a["cache_hit"] for a in shared) == [0] + [1] * (DRIVERS - 1)
    events = [e["event"] for k in range(DRIVERS) for e in j.lease_events(run=f"fan-{k}")]
    assert events.count("acquired") == 1
    listing = CliRunner().invoke(cli, ["runs", "list"])
    assert listing.exit_code == 0, listing.output
    for k in range(DRIVERS):
        assert f"fan-{k}" in listing.output
