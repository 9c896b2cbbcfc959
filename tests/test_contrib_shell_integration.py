"""Core + the community shell plugin installed together: a workflow mixing Python and shell tasks.

The shell task type is found only through the plugin's "flyte.plugins" entry point, and its actions
are recorded like any other (``flyte runs show``).
"""

from __future__ import annotations

import json
from pathlib import Path

import flyte
import flyte._config
import pytest
from click.testing import CliRunner
from flyte.cli.main import cli
from flyte.io import File

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("flyte_home")]  # flyte.testing

shell = pytest.importorskip("flyteplugins.shell")

env = flyte.TaskEnvironment(name="mixed")

word_count = shell.ShellTask(
    name="mixed.word_count",
    script=(
        "wc -w < {inputs.text} | tr -d ' ' > {outputs.words}\n"
        "sort {inputs.text} | uniq > {outputs.unique}\n"
        "echo {inputs.label} >> {outputs.unique}\n"
    ),
    inputs={"text": File, "label": str},
    outputs={"words": int, "unique": File},
)


@env.task
async def make_text(lines: list[str]) -> File:
    path = Path.cwd() / "text.txt"
    path.write_text("\n".join(lines) + "\n")
    return await File.from_local(path)


@env.task
async def summarize(words: int, unique: File) -> str:
    async with unique.open("rb") as f:
        body = (await f.read()).decode()
    return f"{words} words; " + ",".join(body.split())


@env.task
async def pipeline(lines: list[str]) -> str:
    text = await make_text(lines)
    counted = await word_count(text=text, label="done; touch pwned")
    return await summarize(counted.words, counted.unique)


def test_mixed_workflow_and_runs_show() -> None:
    run = flyte.run(pipeline, lines=["b a", "a b", "c"])
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == "5 words; a,b,b,a,c,done;,touch,pwned"
    assert not (Path.cwd() / "pwned").exists()

    shown = CliRunner().invoke(cli, ["runs", "show", run.name, "--json"])
    assert shown.exit_code == 0, shown.output
    actions = json.loads(shown.output)["actions"]
    by_name = {a["task_name"]: a for a in actions}
    assert set(by_name) == {"mixed.pipeline", "mixed.make_text", "mixed.word_count", "mixed.summarize"}
    assert all(a["status"] == "SUCCEEDED" for a in actions)
    root = by_name["mixed.pipeline"]["action_id"]
    assert by_name["mixed.word_count"]["parent_id"] == root

    tree = CliRunner().invoke(cli, ["runs", "show", run.name], env={"COLUMNS": "250"})
    assert tree.exit_code == 0, tree.output
    assert "mixed.word_count" in tree.output and "SUCCEEDED" in tree.output


def test_shell_failure_is_shown_by_runs_show() -> None:
    broken = shell.ShellTask(name="mixed.broken", script="echo 'disk full' >&2; exit 28")

    @env.task
    async def parent() -> None:
        await broken()

    with pytest.raises(Exception) as failed:
        flyte.run(parent)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    assert isinstance(run.error, shell.ShellTaskError) and run.error.exit_code == 28
    shown = CliRunner().invoke(cli, ["runs", "show", run.name, "--json"])
    actions = {a["task_name"]: a for a in json.loads(shown.output)["actions"]}
    err = json.loads(actions["mixed.broken"]["error"])
    assert actions["mixed.broken"]["status"] == "FAILED"
    assert (
        err["code"] == "ShellTaskError"
        and "exited with code 28" in err["message"]
        and "disk full" in err["message"]
    )


APP = """
from flyteplugins.shell import ShellTask

shout = ShellTask(
    name="shout",
    script="echo {inputs.word} | tr a-z A-Z > {outputs.loud}",
    inputs={"word": str},
    outputs={"loud": str},
)
"""


def test_flyte_run_and_rerun_a_shell_task_from_the_cli(tmp_path: Path) -> None:
    import sys

    app = tmp_path / "shell_cli_app.py"
    app.write_text(APP)
    runner = CliRunner()
    try:
        first = runner.invoke(cli, ["run", "--quiet", str(app), "shout", "--word", "hi; echo pwned"])
        assert first.exit_code == 0, first.output
        assert 'outputs: "HI; ECHO PWNED"' in first.output
        name = first.output.split()[1].rstrip(":")
        again = runner.invoke(cli, ["rerun", name, "--no-recover"])  # re-imports the task from app.py
        assert again.exit_code == 0, again.output
        assert 'outputs: "HI; ECHO PWNED"' in again.output
    finally:
        sys.modules.pop("shell_cli_app", None)
