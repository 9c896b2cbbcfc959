"""`flyte run` (inputs parsed from the type hints), `flyte runs list/show`, `flyte rerun` via CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import APPS
from flyte.cli.main import cli

APP = str(APPS / "cli_app.py")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_flyte_run_parses_inputs_from_type_hints() -> None:
    res = invoke("run", "--name", "cli-1", APP, "main", "--n", "3", "--items", "[1,2]")
    assert res.exit_code == 0, res.output
    assert "run cli-1: SUCCEEDED" in res.output
    assert 'outputs: "sum=26"' in res.output
    res = invoke("run", APP, "main", "--n", "2", "--items", "[]", "--label", "total")
    assert res.exit_code == 0, res.output
    assert 'outputs: "total=10"' in res.output


def test_flyte_run_rejects_bad_inputs() -> None:
    res = CliRunner().invoke(cli, ["run", APP, "main", "--n", "x", "--items", "[1]"])
    assert res.exit_code != 0
    assert "--n" in res.output
    res = CliRunner().invoke(cli, ["run", APP, "main", "--n", "1", "--items", '["a"]'])
    assert res.exit_code != 0
    assert "--items" in res.output
    res = CliRunner().invoke(cli, ["run", APP, "nope"])
    assert res.exit_code != 0 and "main" in res.output


def test_flyte_run_failure_exit_code_and_hint() -> None:
    res = CliRunner().invoke(cli, ["run", "--name", "cli-bad", APP, "fails", "--x", "4"])
    assert res.exit_code == 1
    assert "run cli-bad: FAILED" in res.output
    assert "broken 4" in res.output
    assert "cli_app.py:" in res.output  # where in the user's code
    # nothing succeeded before the failure: a recovery would redo everything, so no recover hint
    # (test_run_records checks the hint where a recovery reuses work)
    assert "--recover" not in res.output
    assert "flyte runs show cli-bad --traceback" in res.output


def test_runs_list_and_show(flyte_home: Path) -> None:
    assert invoke("run", "--name", "cli-2", APP, "main", "--n", "3", "--items", "[1,2]").exit_code == 0
    res = invoke("runs", "list")
    assert res.exit_code == 0
    assert "cli-2" in res.output and "SUCCEEDED" in res.output

    res = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["runs", "show", "cli-2"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = res.output
    assert "cli-2" in out and "cli_app.main" in out
    assert "cache hit" in out
    assert "attempts=2" in out  # flaky: one failed attempt, one success
    assert "FAILED" in out and "ValueError: broken 3" in out

    res = invoke("runs", "show", "cli-2", "--json")
    data = json.loads(res.output)
    assert data["run"]["name"] == "cli-2" and data["run"]["status"] == "SUCCEEDED"
    by_task: dict[str, list[dict[str, object]]] = {}
    for a in data["actions"]:
        by_task.setdefault(str(a["task_name"]), []).append(a)
    assert len(by_task["cli_app.main"]) == 1 and by_task["cli_app.main"][0]["parent_id"] is None
    root_id = by_task["cli_app.main"][0]["action_id"]
    assert all(a["parent_id"] == root_id for t, rows in by_task.items() if t != "cli_app.main" for a in rows)
    squares = by_task["cli_app.square"]
    assert len(squares) == 4 and sum(int(a["cache_hit"]) for a in squares) == 1  # type: ignore[call-overload]
    assert by_task["cli_app.flaky"][0]["attempts"] == 2
    assert by_task["cli_app.flaky"][0]["status"] == "SUCCEEDED"
    broken = by_task["cli_app.broken"][0]
    assert broken["status"] == "FAILED"
    assert json.loads(str(broken["error"]))["code"] == "ValueError"

    res = CliRunner().invoke(cli, ["runs", "show", "missing-run"])
    assert res.exit_code != 0 and "missing-run" in res.output


def test_rerun_cli_recovers_a_failed_run() -> None:
    assert CliRunner().invoke(cli, ["run", "--name", "cli-3", APP, "fails", "--x", "1"]).exit_code == 1
    res = CliRunner().invoke(cli, ["rerun", "cli-3"])
    assert res.exit_code == 1 and "broken 1" in res.output
    res = CliRunner().invoke(cli, ["rerun", "cli-3", "--no-recover"])
    assert res.exit_code == 1
    res = invoke("runs", "list")
    assert res.output.count("FAILED") == 2  # the recovered run is the same run; --no-recover made a new one


def test_live_progress_draws_the_action_tree() -> None:
    """What a terminal shows during `flyte run`: the tree, siblings of one task folded with counts."""
    import io

    import cli_app
    import flyte
    from flyte.cli._views import LiveProgress
    from rich.console import Console

    out = io.StringIO()
    progress = LiveProgress(Console(file=out, force_terminal=True, width=120, color_system=None))
    rc = flyte.with_runcontext()
    rc.listeners.append(progress)
    assert rc.run(cli_app.main, n=5, items=[1, 2]).status == "SUCCEEDED"
    progress.console.print(progress)
    text = out.getvalue()
    assert "cli_app.main" in text and "SUCCEEDED" in text
    assert "cli_app.square x4  cached 1  succeeded 3" in text  # siblings of one task: one line, counts
    assert "cli_app.flaky" in text
    lines = text.splitlines()
    main_line = next(i for i, line in enumerate(lines) if "cli_app.main" in line)
    square_line = next(i for i, line in enumerate(lines) if "cli_app.square x4" in line)
    assert square_line > main_line  # the children hang under the workflow
