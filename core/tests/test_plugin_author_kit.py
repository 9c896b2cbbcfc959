"""The plugin-author kit: a task type in one module, the ``flyte`` pytest plugin, the shared helpers.

The first two tests run in fresh interpreters, as a plugin author's project would: a throwaway
``site-packages`` holds the plugin module and its ``dist-info`` (what ``pip install`` leaves), and the
project's tests get flyte's fixtures from the ``pytest11`` entry point, with no conftest copied.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Optional

import flyte
import pytest
from flyte.extend import (
    as_text,
    check_io_names,
    finish_shielded,
    lazy_exports,
    parse_scalar_text,
    run_command,
    strip_optional,
    value_kind,
)
from flyte.io import Dir, File

# What docs/plugin-authors.md shows: the whole plugin.
ECHO_PLUGIN = '''
"""flyte-plugin-echo: the "echo" task type, in one module."""

from dataclasses import dataclass
from typing import Any, ClassVar

from flyte.extend import NativeInterface, TaskTemplate, hookimpl


@dataclass(kw_only=True)
class EchoTask(TaskTemplate):
    """Returns its input with a prefix; runs in the run's process (no backend)."""

    plugin_distribution: ClassVar[str] = "flyte-plugin-echo"  # named when the plugin is missing
    prefix: str = ""
    task_type: str = "echo"
    interface: NativeInterface = NativeInterface.from_types({"text": str}, str)

    def version_material(self) -> str:
        return f"EchoTask|{self.prefix}"

    async def execute(self, text: str) -> str:
        return self.prefix + text


@hookimpl
def flyte_register_task_types(registry) -> None:
    registry.add("echo", 0, EchoTask)
'''


def _site(root: Path) -> Path:
    """A directory where flyte-plugin-echo 1.0 is 'installed': its module and its dist-info."""
    site = root / "site"
    info = site / "flyte_plugin_echo-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "flyte_plugin_echo.py").write_text(ECHO_PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flyte-plugin-echo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[flyte.plugins]\necho = flyte_plugin_echo\n")
    return site


def _python(code: str, site: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=full, capture_output=True, text=True
    )


def test_a_minimal_task_type_plugin_is_one_module_and_an_entry_point(
    tmp_path: Path, flyte_home: Path
) -> None:
    site = _site(tmp_path)
    (tmp_path / "wf.py").write_text(
        textwrap.dedent(
            """
            import flyte
            from flyte_plugin_echo import EchoTask

            shout = EchoTask(name="loud.shout", prefix="> ")
            env = flyte.TaskEnvironment(name="echoes")


            @env.task
            async def main(words: list[str]) -> list[str]:
                return [await shout(text=w) for w in words]
            """
        )
    )
    res = _python(
        """
        import json, flyte
        from flyte._plugins.manager import load_plugins
        import wf

        run = flyte.run(wf.main, words=["a", "b"])
        info = load_plugins().plugins["echo"]
        print(json.dumps({"out": run.outputs()[0], "dist": info.distribution, "version": info.version,
                          "types": info.task_types, "error": info.error}))
        """,
        site,
        tmp_path,
        PYTHONPATH=os.pathsep.join([str(site), str(tmp_path)]),
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got == {
        "out": ["> a", "> b"],
        "dist": "flyte-plugin-echo",
        "version": "1.0",
        "types": ["echo"],
        "error": None,
    }
    # The journal recorded the plugin's task type for the two children.
    from flyte.testing import JournalReader

    types = [r["task_type"] for r in JournalReader(flyte_home).rows("SELECT task_type FROM actions")]
    assert sorted(types) == ["echo", "echo", "python"]

    # Without its entry point (the plugin not installed), running it names what to install.
    (site / "flyte_plugin_echo-1.0.dist-info" / "entry_points.txt").unlink()
    res = _python(
        """
        import flyte, wf
        try:
            flyte.run(wf.main, words=["a"])
        except Exception as e:
            print(type(e).__name__, e)
        """,
        site,
        tmp_path,
        PYTHONPATH=os.pathsep.join([str(site), str(tmp_path)]),
    )
    assert "TaskTypeNotFoundError" in res.stdout, res.stdout + res.stderr
    assert "No installed plugin provides task type 'echo'" in res.stdout
    assert "pip install flyte-plugin-echo" in res.stdout


def test_the_flyte_pytest_plugin_gives_any_project_its_fixtures(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_mine.py").write_text(
        textwrap.dedent(
            """
            import os

            import flyte

            env = flyte.TaskEnvironment(name="mine")


            @env.task
            async def double(x: int) -> int:
                return 2 * x


            def test_runs_in_its_own_home(flyte_home, flyte_journal, tmp_path):
                assert os.environ["FLYTE_HOME"] == str(flyte_home) and flyte_home.parent == tmp_path
                for var in ("FLYTE_CONFIG", "FLYTE_ISOLATION", "FLYTE_RAW_DATA_PATH", "FLYTE_EXECUTOR"):
                    assert var not in os.environ, var
                run = flyte.run(double, x=21)
                assert run.outputs()[0] == 42
                rows = flyte_journal.rows("SELECT name, status FROM runs")
                assert [(r["name"], r["status"]) for r in rows] == [(run.name, "SUCCEEDED")]


            def test_a_second_test_starts_empty(flyte_journal):
                assert not flyte_journal.path.exists()
            """
        )
    )
    env = {
        **os.environ,
        "FLYTE_CONFIG": str(tmp_path / "nowhere.toml"),  # would fail the run if it were still set
        "FLYTE_ISOLATION": "no-such-mode",
        "FLYTE_HOME": str(tmp_path / "the-users-real-home"),
    }
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 passed" in res.stdout
    assert not (tmp_path / "the-users-real-home").exists()


# ---- the shared helpers -------------------------------------------------------------------------------


def test_value_kinds_and_text() -> None:
    kinds = [value_kind(t) for t in (int, float, str, bool, File, Dir, Optional[int], list[int], dict)]  # noqa: UP045
    assert kinds == ["int", "float", "str", "bool", "file", "dir", "int", "json", "json"]
    assert strip_optional(int | None) == (int, True) and strip_optional(int) == (int, False)
    assert [as_text(v) for v in (None, True, 3, 1.5, "x y", {"b": 1, "a": [2]})] == [
        "",
        "true",
        "3",
        "1.5",
        "x y",
        '{"a": [2], "b": 1}',
    ]
    assert parse_scalar_text("int", " 7\n") == 7 and parse_scalar_text("bool", "Yes") is True
    assert parse_scalar_text("str", "line\n") == "line"
    with pytest.raises(ValueError, match="'maybe' is not a boolean"):
        parse_scalar_text("bool", "maybe")


def test_io_name_checks_name_the_owner_and_the_fix() -> None:
    assert check_io_names("T(name='t')", "inputs", {"n": int}) == {"n": int}
    with pytest.raises(ValueError, match=r"T\(name='t'\): outputs name 'not ok' must be a Python identifier"):
        check_io_names("T(name='t')", "outputs", {"not ok": int})
    with pytest.raises(ValueError, match="inputs must be a dict of name to type"):
        check_io_names("T(name='t')", "inputs", [("n", int)])


def test_finish_shielded_completes_cleanup_then_reraises_the_cancellation() -> None:
    done: list[str] = []

    async def cleanup() -> str:
        await asyncio.sleep(0.2)
        done.append("cleaned")
        return "ok"

    async def main() -> None:
        assert await finish_shielded(cleanup()) == "ok"
        task = asyncio.ensure_future(finish_shielded(cleanup()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert done == ["cleaned", "cleaned"]  # the cancelled caller still waited for the cleanup

    asyncio.run(main())


def test_run_command_returns_output_and_kills_the_process_when_cancelled(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    async def main() -> None:
        assert await run_command("sh", "-c", "echo out; echo err >&2; exit 3") == (3, "out\n", "err\n")
        assert await run_command("sh", "-c", "echo out; echo err >&2", merge_stderr=True) == (
            0,
            "out\nerr\n",
            "",
        )
        task = asyncio.ensure_future(run_command("sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"))
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(TimeoutError):
            await run_command("sleep", "30", timeout=0.2)

    start = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - start < 10
    pid = int(pid_file.read_text())
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    )


def test_lazy_exports_import_on_first_use() -> None:
    getattr_ = lazy_exports("flyte", {"PodTemplate": "_pod"})
    from flyte._pod import PodTemplate

    assert getattr_("PodTemplate") is PodTemplate
    with pytest.raises(AttributeError, match="module 'flyte' has no attribute 'Nope'"):
        getattr_("Nope")


def test_version_material_is_the_public_override(flyte_home: Path) -> None:
    from flyte.extend import NativeInterface, TaskTemplate

    class Scripted(TaskTemplate[Any, Any]):
        script = "a"

        def version_material(self) -> str:
            return f"Scripted|{self.script}"

    one = Scripted(name="s.one", interface=NativeInterface.from_types({}, None))
    before = one.source_version()
    one.script = "b"  # a field set after construction drops the cached identity
    assert one.source_version() != before
    assert flyte.TaskEnvironment  # the public API is untouched by the kit
