"""What Flyte 2 tutorials type at the CLI: ``flyte run --local``, run flags, recovery, File/Dir paths.

Side effects (a character appended to a file per execution) prove what really executed and what a
cache or a recovery reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import journal_rows
from flyte.cli.main import cli

APP = '''
import os
from dataclasses import dataclass

from pydantic import BaseModel

import flyte
from flyte.io import Dir, File

env = flyte.TaskEnvironment(name="capp")


def bump(name: str) -> int:
    path = os.path.join(os.environ["COUNTS"], name)
    with open(path, "a") as f:
        f.write("x")
    return os.path.getsize(path)


@env.task
async def step(i: int) -> int:
    bump(f"step{i}")
    return i * STEP_FACTOR


@env.task
async def inner(i: int) -> int:
    bump(f"inner{i}")
    return i + 1


@env.task
async def group(n: int) -> int:
    bump("group")
    return sum([await inner(i) for i in range(n)])


@env.task
async def boom(x: int) -> int:
    bump("boom")
    if os.environ.get("BOOM") == "1":
        raise ValueError("boom on purpose")
    return x


@env.task
async def main(n: int) -> int:
    """Steps, a group of inner tasks, then a task that can fail."""
    bump("main")
    total = 0
    for i in range(n):
        total += await step(i)
    total += await group(2)
    return await boom(total)


@env.task(cache="auto")
async def cached(x: int) -> int:
    return bump("cached") * 1000 + x


@env.task
async def greet(who: str = "world") -> str:
    print("greeting", who)
    return f"{os.environ.get('GREETING', 'hello')} {who} {os.environ.get('SECOND', '')}".strip()


@flyte.trace
async def noted(x: int) -> int:
    bump("noted")
    return x + 5


@env.task
async def traced(x: int) -> int:
    y = await noted(x)
    bump("traced")
    if os.environ.get("BOOM") == "1":
        raise ValueError("boom after the trace")
    return y


@dataclass
class Cfg:
    lr: float
    steps: int = 3


class Opts(BaseModel):
    depth: int
    label: str = "x"


@env.task
async def files(
    f: File, d: Dir, cfg: Cfg | None = None, opts: Opts | None = None, items: list[int] = [1]
) -> str:
    with open(f.download_sync()) as fh:
        text = fh.read().strip()
    names = sorted(os.listdir(d.download_sync()))
    return f"{text}|{','.join(names)}|{cfg}|{opts}|{items}"
'''


@pytest.fixture
def counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    c = tmp_path / "counts"
    c.mkdir()
    monkeypatch.setenv("COUNTS", str(c))
    return c


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return write_app(tmp_path, factor=10)


def write_app(tmp_path: Path, factor: int) -> Path:
    """The sample module; rewriting it (another factor) changes ``step``'s code only."""
    path = tmp_path / "capp.py"
    path.write_text(APP.replace("STEP_FACTOR", str(factor)))
    sys.modules.pop("capp", None)  # the next `flyte run` imports the file as it is now
    return path


def n(counts: Path, name: str) -> int:
    p = counts / name
    return p.stat().st_size if p.exists() else 0


def flyte(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_line_error(res: Result) -> str:
    """The error a user mistake ends with: exactly one line, no traceback, non-zero exit."""
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output and "<class" not in res.output, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    return lines[0]


# ---- flyte run --local / --remote ----------------------------------------------------------------
def test_local_is_accepted_and_remote_is_one_clear_line(app: Path, counts: Path, flyte_home: Path) -> None:
    env = {**os.environ, "COUNTS": str(counts), "FLYTE_HOME": str(flyte_home)}
    cmd = [sys.executable, "-m", "flyte.cli.main", "run"]
    ok = subprocess.run(
        [*cmd, "--local", str(app), "main", "--n", "2"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "SUCCEEDED" in ok.stdout and "outputs: 13" in ok.stdout
    bad = subprocess.run(
        [*cmd, "--remote", str(app), "main", "--n", "2"], env=env, capture_output=True, text=True
    )
    assert bad.returncode != 0
    assert bad.stdout == "" and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "--remote" in bad.stderr and "--local" in bad.stderr
    assert n(counts, "main") == 1  # the --remote run never started


def test_user_mistakes_are_one_line(app: Path, counts: Path) -> None:
    assert "--env" in one_line_error(flyte("run", "-e", "NOEQUALS", app, "greet"))
    assert "nope" in one_line_error(flyte("run", app, "nope"))
    assert "missing.py" in one_line_error(flyte("run", "missing.py", "main"))
    assert "--n" in one_line_error(flyte("run", app, "main", "--n", "x"))
    assert "--n" in one_line_error(flyte("run", app, "main"))  # required input missing
    assert "no-such-run" in one_line_error(flyte("rerun", "no-such-run"))
    assert "--recover-from" in one_line_error(
        flyte("run", "--force-rerun-action", "x", app, "main", "--n", "1")
    )


def test_a_failed_run_is_reported_whether_the_api_returns_or_raises(
    app: Path, counts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`flyte.run` may raise on a failed run (as the anchor's does); the CLI reports it the same way."""
    from flyte import _run as run_module

    original = run_module.RunContext.run

    def raising(self: run_module.RunContext, task: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, task, *args, **kwargs)
        if result.error is not None:
            raise result.error
        return result

    outputs = []
    for patched in (False, True):
        if patched:
            monkeypatch.setattr(run_module.RunContext, "run", raising)
        res = flyte("run", "--name", f"fail-{patched}", "-e", "BOOM=1", app, "main", "--n", "1")
        assert res.exit_code == 1 and "Traceback" not in res.output
        outputs.append(res.output.replace(f"fail-{patched}", "NAME"))
    assert outputs[0] == outputs[1]
    assert "run NAME: FAILED" in outputs[0] and "error: ValueError: boom on purpose" in outputs[0]


# ---- --name, --env, --follow, --raw-data-path, recorded flags ------------------------------------
def test_name_env_follow_raw_data_path_and_recorded_flags(
    app: Path, counts: Path, flyte_home: Path, tmp_path: Path
) -> None:
    res = flyte(
        "run", "--local", "--name", "my-run", "-e", "GREETING=hola", "--env", "SECOND=two",
        "--follow", "--raw-data-path", tmp_path / "rd", "-p", "proj", "-d", "dev",
        "--copy-style", "all", "--service-account", "sa1", app, "greet", "--who", "ana",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "run my-run: SUCCEEDED" in res.output
    assert 'outputs: "hola ana two"' in res.output
    assert "SUCCEEDED capp.greet" in res.output  # --follow: a line per action
    assert "GREETING" not in os.environ  # the run's env vars do not leak into the caller
    logs = list((tmp_path / "rd" / "runs" / "my-run").rglob("*.log"))
    assert len(logs) == 1 and "greeting ana" in logs[0].read_text()
    assert "SUCCEEDED" not in logs[0].read_text()  # the follow view is not the task's output
    shown = json.loads(flyte("runs", "show", "my-run", "--json").output)
    settings = shown["run"]["settings"]
    assert settings["env_vars"] == {"GREETING": "hola", "SECOND": "two"}
    assert (settings["project"], settings["domain"]) == ("proj", "dev")
    assert (settings["copy_style"], settings["service_account"]) == ("all", "sa1")
    assert "my-run" in one_line_error(flyte("run", "--name", "my-run", app, "greet"))  # names are unique
    assert "--copy-style" in one_line_error(flyte("run", "--copy-style", "zip", app, "greet"))


# ---- --overwrite-cache -----------------------------------------------------------------------------
def test_overwrite_cache_re_executes_and_replaces_the_entry(app: Path, counts: Path) -> None:
    def out(*flags: str) -> str:
        res = flyte("run", *flags, app, "cached", "--x", "7")
        assert res.exit_code == 0, res.output
        return res.output.split("outputs: ")[1].strip()

    assert out() == "1007"
    assert out() == "1007" and n(counts, "cached") == 1  # a cache hit: not executed
    assert out("--overwrite-cache") == "2007" and n(counts, "cached") == 2  # executed again
    assert out() == "2007" and n(counts, "cached") == 2  # the entry now holds the new result


# ---- --recover-from --------------------------------------------------------------------------------
def test_recover_from_reuses_succeeded_actions_and_reruns_changed_tasks(
    app: Path, counts: Path, flyte_home: Path, tmp_path: Path
) -> None:
    res = flyte("run", "--name", "first", "-e", "BOOM=1", app, "main", "--n", "3")
    assert res.exit_code == 1 and "run first: FAILED" in res.output and "boom on purpose" in res.output
    assert "--recover-from first" in res.output
    before = journal_rows(flyte_home, "SELECT action_id, status FROM actions WHERE run='first' ORDER BY 1")
    assert [n(counts, f) for f in ("main", "step0", "step2", "group", "inner0", "boom")] == [1, 1, 1, 1, 1, 1]

    res = flyte("run", "--name", "second", "--recover-from", "first", app, "main", "--n", "3")
    assert res.exit_code == 0, res.output
    assert "outputs: 33" in res.output
    # the failed root and boom executed again; every succeeded action was reused
    assert [n(counts, f) for f in ("main", "step0", "step2", "group", "inner0", "boom")] == [2, 1, 1, 1, 1, 2]
    after = journal_rows(flyte_home, "SELECT action_id, status FROM actions WHERE run='first' ORDER BY 1")
    assert [tuple(r) for r in after] == [tuple(r) for r in before]  # the source's record is unchanged
    shown = json.loads(flyte("runs", "show", "second", "--json").output)
    assert shown["run"]["settings"]["recovered_from"] == "first"
    assert len(shown["actions"]) == 8 and all(a["status"] == "SUCCEEDED" for a in shown["actions"])
    assert "recovered from first" in flyte("runs", "show", "second").output
    assert flyte("rerun", "second", "--force-rerun-action", "boom").exit_code == 0  # in place
    settings = json.loads(flyte("runs", "show", "second", "--json").output)["run"]["settings"]
    assert settings["recovered_from"] == "first" and settings["id_base"] == "first"
    assert (n(counts, "main"), n(counts, "boom"), n(counts, "step0")) == (3, 3, 1)  # IDs match its own record

    write_app(tmp_path, factor=100)  # step's code changes; nothing else does
    res = flyte("run", "--name", "third", "--recover-from", "second", app, "main", "--n", "3")
    assert res.exit_code == 0, res.output
    assert "outputs: 303" in res.output
    # the changed task ran again, and so did its caller; the unchanged group subtree was reused
    assert [n(counts, f) for f in ("main", "step0", "step2", "group", "inner0")] == [4, 2, 2, 1, 1]

    # IDs derive from the root's inputs: other root inputs are another computation, nothing is reused
    other_inputs = flyte("run", "--recover-from", "third", app, "main", "--n", "4")
    assert other_inputs.exit_code == 0 and "outputs: 603" in other_inputs.output
    assert [n(counts, f) for f in ("step0", "step3", "group")] == [3, 1, 2]

    assert "no-run" in one_line_error(flyte("run", "--recover-from", "no-run", app, "main", "--n", "3"))


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_recover_from_replays_traces_in_workers_too(
    app: Path, counts: Path, flyte_home: Path, isolation: str
) -> None:
    res = flyte("run", "--isolation", isolation, "--name", "t1", "-e", "BOOM=1", app, "traced", "--x", "1")
    assert res.exit_code == 1, res.output
    res = flyte(
        "run", "--isolation", isolation, "--name", "t2", "--recover-from", "t1", app, "traced", "--x", "1"
    )
    assert res.exit_code == 0 and "outputs: 6" in res.output, res.output
    assert (n(counts, "noted"), n(counts, "traced")) == (1, 2)  # the trace's recorded value was reused
    kinds = [
        r["kind"] for r in journal_rows(flyte_home, "SELECT kind FROM actions WHERE run='t2' ORDER BY kind")
    ]
    assert kinds == ["task", "trace"]  # the reused trace is in the new run's own record
    modes = journal_rows(flyte_home, "SELECT mode FROM actions WHERE run='t1' AND kind='task'")
    assert [r["mode"] for r in modes] == [isolation]
    res = flyte(
        "run", "--isolation", isolation, "--name", "t3", "--recover-from", "t2", app, "traced", "--x", "1"
    )
    assert res.exit_code == 0 and n(counts, "noted") == 1 and n(counts, "traced") == 2  # all reused from t2


# ---- flyte rerun --recover --force-rerun-action ----------------------------------------------------
def test_force_rerun_action(app: Path, counts: Path, flyte_home: Path) -> None:
    assert flyte("run", "--name", "base", app, "main", "--n", "2").exit_code == 0
    assert [n(counts, f) for f in ("main", "step0", "group", "inner0", "inner1", "boom")] == [
        1,
        1,
        1,
        1,
        1,
        1,
    ]

    # a listed parent executes again (with its caller) and so do its children; siblings are reused
    res = flyte("rerun", "base", "--recover", "--name", "again", "--force-rerun-action", "group")
    assert res.exit_code == 0, res.output
    assert [n(counts, f) for f in ("main", "step0", "group", "inner0", "inner1", "boom")] == [
        2,
        1,
        2,
        2,
        2,
        1,
    ]

    # by the ID `flyte runs show` prints, together with the parent: the parent re-runs its children
    rows = journal_rows(
        flyte_home, "SELECT action_id FROM actions WHERE run='base' AND task_name='capp.inner'"
    )
    shown_id = rows[0]["action_id"][:12]
    assert shown_id in flyte("runs", "show", "base").output
    res = flyte("rerun", "base", "--recover", "--name", "again2", "--force-rerun-action", "group",
                "--force-rerun-action", shown_id)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (n(counts, "group"), n(counts, "inner0"), n(counts, "inner1")) == (3, 3, 3)  # its subtree
    res = flyte("rerun", "base", "--recover", "--name", "again3", "--force-rerun-action", "group",
                "--force-rerun-action", "inner")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (n(counts, "group"), n(counts, "inner0"), n(counts, "inner1")) == (4, 4, 4)  # the whole subtree
    assert n(counts, "step0") == 1 and n(counts, "boom") == 1  # siblings stayed reused throughout

    # in place: the run's own succeeded record is reused except what is listed
    res = flyte("rerun", "base", "--force-rerun-action", "boom", "-e", "EXTRA=1", "-p", "proj2")
    assert res.exit_code == 0, res.output
    assert (n(counts, "boom"), n(counts, "step0"), n(counts, "group")) == (2, 1, 4)
    settings = json.loads(flyte("runs", "show", "base", "--json").output)["run"]["settings"]
    assert settings["env_vars"]["EXTRA"] == "1" and settings["project"] == "proj2"

    assert "nothing-like-this" in one_line_error(
        flyte("rerun", "base", "--force-rerun-action", "nothing-like-this")
    )
    assert "--recover" in one_line_error(
        flyte("rerun", "base", "--no-recover", "--force-rerun-action", "boom")
    )


# ---- File / Dir / JSON inputs ----------------------------------------------------------------------
def test_file_and_dir_inputs_take_paths(app: Path, counts: Path, tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "one.txt").write_text("1")
    res = flyte("run", "--local", app, "files", "--f", "./data.csv", "--d", "./folder", "--items", "[2, 3]",
                "--cfg", '{"lr": 0.5}', "--opts", '{"depth": 2}')  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "a,b|one.txt|Cfg(lr=0.5, steps=3)|depth=2 label='x'|[2, 3]" in res.output
    uri = (tmp_path / "data.csv").as_uri()
    assert flyte("run", app, "files", "--f", uri, "--d", tmp_path / "folder").exit_code == 0

    err = one_line_error(flyte("run", app, "files", "--f", "./missing.csv", "--d", "./folder"))
    assert "--f" in err and "missing.csv" in err and "does not exist" in err
    err = one_line_error(flyte("run", app, "files", "--f", "./data.csv", "--d", "./data.csv"))
    assert "--d" in err and "not a folder" in err


def test_json_inputs_name_the_failing_field(app: Path, counts: Path, tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a")
    base = ["run", app, "files", "--f", "./data.csv", "--d", "."]
    err = one_line_error(flyte(*base, "--cfg", '{"lr": "fast"}'))
    assert "--cfg" in err and "field 'lr'" in err and "lr: float" in err
    err = one_line_error(flyte(*base, "--opts", '{"label": "y"}'))
    assert "--opts" in err and "field 'depth'" in err and "Field required" in err
    err = one_line_error(flyte(*base, "--items", '[1, "two"]'))
    assert "--items" in err and "[1]" in err


# ---- --help --------------------------------------------------------------------------------------
def test_task_help_lists_inputs_once_each(app: Path) -> None:
    res = flyte("run", "--local", app, "files", "--help")
    assert res.exit_code == 0
    lines = {line.split()[0]: line for line in res.output.splitlines() if line.strip().startswith("--")}
    assert set(lines) >= {"--f", "--d", "--cfg", "--opts", "--items"}
    assert "FILE" in lines["--f"] and "[required]" in lines["--f"]
    assert "list[int]" in lines["--items"] and "[default: [1]]" in lines["--items"]
    assert "Cfg {lr: float, steps: int}" in lines["--cfg"]
    res = flyte("run", app, "main", "--help")
    assert "Steps, a group of inner tasks" in res.output  # the task's docstring
    line = next(line for line in res.output.splitlines() if line.strip().startswith("--n"))
    assert line.split() == ["--n", "INTEGER", "[required]"]  # no second type note
    assert "flyte.io" not in res.output and "<class" not in res.output
