"""flyte.deploy records tasks; flyte.remote.Task.get returns a reference that runs the deployed code,
also from another process after the source file changed; the CLI's deploy and run deployed-task."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import flyte
import flyte.remote as remote
import pytest

LIB = """
import flyte

env = flyte.TaskEnvironment("reflib")


@env.task
def scale(x: int) -> int:
    return x * FACTOR


@env.task
async def describe(x: int) -> str:
    return f"{VERSION_TAG}:{x}"


FACTOR = 2
VERSION_TAG = "v-one"
"""


def _write(path: Path, factor: int, tag: str) -> None:
    path.write_text(LIB.replace("FACTOR = 2", f"FACTOR = {factor}").replace('"v-one"', repr(tag)))


def _py(code: str, cwd: Path, home: Path) -> str:
    env = {**os.environ, "FLYTE_HOME": str(home), "PYTHONPATH": str(cwd)}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_deploy_records_and_a_reference_runs_the_deployed_code_in_another_process(
    tmp_path: Path, flyte_home: Path
) -> None:
    lib = tmp_path / "reflib.py"
    _write(lib, 2, "v-one")
    deployed = _py(
        """
        import flyte, reflib
        d = flyte.deploy(reflib.env)[0]
        print(sorted((t.spec.name, t.spec.version) for t in d.envs["reflib"].deployed_entities)[1][1])
        """,
        tmp_path,
        flyte_home,
    )
    _write(lib, 100, "v-two")  # the source changes after the deployment
    caller = tmp_path / "caller.py"
    caller.write_text(
        textwrap.dedent(
            f"""
            import flyte, flyte.remote
            env = flyte.TaskEnvironment("caller")
            ref = flyte.remote.Task.get("reflib.scale", version={deployed!r})
            latest = flyte.remote.Task.get("reflib.describe", auto_version="latest")

            @env.task
            async def use(x: int) -> str:
                return f"{{await ref(x=x)}}|{{await latest(x=x)}}"
            """
        )
    )
    out = _py(
        """
        import flyte, flyte.remote, caller, reflib
        print(flyte.run(caller.use, x=3).outputs()[0])
        print(flyte.run(flyte.remote.Task.get("reflib.scale", auto_version="latest"), x=5).outputs()[0])
        print(flyte.run(reflib.scale, x=5).outputs()[0])
        print(flyte.with_runcontext(isolation="process").run(caller.use, x=4).outputs()[0])
        """,
        tmp_path,
        flyte_home,
    )
    # the deployed code (also in a worker process), and the edited file when called directly
    assert out.splitlines() == ["6|v-one:3", "10", "500", "8|v-one:4"]


def test_version_given_content_hash_by_default_and_redeploy(tmp_path: Path, monkeypatch) -> None:
    lib = tmp_path / "reflib.py"
    _write(lib, 2, "a")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("reflib", None)
    import reflib

    first = flyte.deploy(reflib.env)[0].envs["reflib"].deployed_entities
    again = flyte.deploy(reflib.env)[0].envs["reflib"].deployed_entities
    assert [t.spec.version for t in first] == [t.spec.version for t in again]  # same code, same version
    flyte.deploy(reflib.env, version="release-1")
    rows = list(remote.Task.listall(by_task_name="reflib.scale"))
    assert {t.version for t in rows} == {first[0].spec.version, "release-1"}
    details = remote.Task.get("reflib.scale", version="release-1").fetch()
    assert details.name == "reflib.scale" and details.version == "release-1"
    assert details.required_args == ("x",) and details.task_type == "python"
    assert details.spec["name"] == "reflib.scale"
    sys.modules.pop("reflib", None)


def test_dry_run_records_nothing(tmp_path: Path, monkeypatch) -> None:
    _write(tmp_path / "reflib.py", 2, "a")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("reflib", None)
    import reflib

    dry = flyte.deploy(reflib.env, dry_run=True)[0].envs["reflib"].deployed_entities
    with pytest.raises(flyte.errors.RemoteTaskNotFoundError, match="was not deployed"):
        remote.Task.get("reflib.scale", auto_version="latest").fetch()
    real = flyte.deploy(reflib.env)[0].envs["reflib"].deployed_entities
    assert [t.spec.version for t in dry] == [t.spec.version for t in real]  # what would be recorded
    assert remote.Task.get("reflib.scale", auto_version="latest").fetch().version == real[0].spec.version
    sys.modules.pop("reflib", None)


def test_task_get_arguments_are_checked() -> None:
    with pytest.raises(flyte.errors.InvalidParameterError, match="version"):
        remote.Task.get("env.task")
    with pytest.raises(flyte.errors.InvalidParameterError, match="auto_version"):
        remote.Task.get("env.task", auto_version="current")
    with pytest.raises(flyte.errors.InvalidParameterError, match="env-qualified"):
        remote.Task.get("task", version="1")
    with pytest.raises(flyte.errors.RemoteTaskNotFoundError, match=r"'env\.task', version '1'"):
        remote.Task.get("env.task", version="1").fetch()


def test_reference_outside_a_task_needs_flyte_run(tmp_path: Path, monkeypatch) -> None:
    import asyncio

    _write(tmp_path / "reflib.py", 2, "a")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("reflib", None)
    import reflib

    flyte.deploy(reflib.env)
    ref = remote.Task.get("reflib.scale", auto_version="latest")
    with pytest.raises(flyte.errors.RemoteTaskUsageError, match=r"flyte\.run"):
        asyncio.run(ref(x=1))
    with pytest.raises(flyte.errors.RemoteTaskUsageError, match="keyword"):
        asyncio.run(ref(1))
    sys.modules.pop("reflib", None)


def test_cli_deploy_and_run_deployed_task(tmp_path: Path, flyte_home: Path) -> None:
    lib = tmp_path / "reflib.py"
    _write(lib, 3, "a")
    flyte_cli = [sys.executable, "-m", "flyte.cli.main"]
    env = {**os.environ, "FLYTE_HOME": str(flyte_home)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*flyte_cli, *args], cwd=tmp_path, env=env, capture_output=True, text=True)

    dep = cli("deploy", "reflib.py", "--version", "v1")
    assert dep.returncode == 0, dep.stderr
    assert "deployed reflib.scale version v1" in dep.stdout
    _write(lib, 1000, "a")
    run = cli("run", "--quiet", "deployed-task", "reflib.scale:v1", "--x", "4")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "outputs: 12"
    missing = cli("run", "deployed-task", "reflib.nothing", "--x", "4")
    assert missing.returncode != 0 and "was not deployed" in missing.stderr
    bad_env = cli("deploy", "reflib.py", "nope")
    assert bad_env.returncode != 0 and "no environment named nope" in bad_env.stderr
