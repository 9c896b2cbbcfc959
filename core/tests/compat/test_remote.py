"""flyte.remote read from the durable local store: runs, actions, attempts, logs, abort, apps,
admin names without a backend; flyte.models."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import flyte
import flyte.remote as remote
import pytest
from flyte.models import ActionOutputs, ActionPhase

WF = """
import os
import flyte

env = flyte.TaskEnvironment("remote_wf")


@env.task
def square(x: int) -> int:
    print("squaring", x)
    return x * x


@env.task(retries=2)
def flaky(x: int) -> int:
    n = int(os.environ.get("REMOTE_FLAKY", "0"))
    os.environ["REMOTE_FLAKY"] = str(n + 1)
    print("attempt", n)
    if n == 0:
        raise ValueError("first attempt fails")
    return x + 1


@env.task
def broken(x: int) -> int:
    raise KeyError(f"no key {x}")


@env.task
async def main(x: int, label: str = "L") -> tuple[int, str]:
    a = await square.aio(x)
    b = await flaky.aio(a)
    return b, label
"""


@pytest.fixture
def wf(tmp_path: Path):
    path = tmp_path / "remote_wf.py"
    path.write_text(WF)
    sys.path.insert(0, str(tmp_path))
    sys.modules.pop("remote_wf", None)
    os.environ.pop("REMOTE_FLAKY", None)
    import remote_wf

    yield remote_wf
    sys.path.remove(str(tmp_path))
    sys.modules.pop("remote_wf", None)
    os.environ.pop("REMOTE_FLAKY", None)


def test_models_reexport_the_run_types() -> None:
    import flyte._context
    import flyte._run

    assert flyte.models.ActionPhase is flyte._run.ActionPhase
    assert flyte.models.ActionOutputs is flyte._run.ActionOutputs
    assert flyte.models.ActionID is flyte._context.ActionID
    assert flyte.models.TaskContext is flyte._context.TaskContext
    assert flyte.models.RawDataPath is flyte._context.RawDataPath


def test_run_get_outputs_inputs_and_actions(wf) -> None:
    started = flyte.run(wf.main, x=3, label="hello")
    run = remote.Run.get(started.name)
    assert run.name == started.name
    assert run.phase is ActionPhase.SUCCEEDED and run.done()
    out = run.outputs()
    assert isinstance(out, ActionOutputs) and tuple(out) == (10, "hello")
    assert dict(run.inputs()) == {"x": 3, "label": "hello"}
    names = [a.task_name for a in run.actions()]
    assert sorted(names) == ["remote_wf.flaky", "remote_wf.main", "remote_wf.square"]
    assert run.action.task_name == "remote_wf.main"
    sq = next(a for a in run.actions() if a.task_name == "remote_wf.square")
    assert sq.inputs() == {"x": 3} and sq.outputs()[0] == 9
    assert sq.details().logs() == "squaring 3\n"
    assert sq.runtime is not None and sq.runtime.total_seconds() >= 0


def test_attempts_errors_and_logs_of_a_retried_action(wf) -> None:
    run = remote.Run.get(flyte.run(wf.main, x=2).name)
    flaky = next(a for a in run.actions() if a.task_name == "remote_wf.flaky")
    details = flaky.details()
    assert [a.phase for a in details.attempts] == [ActionPhase.FAILED, ActionPhase.SUCCEEDED]
    assert details.attempts[0].error_info["message"] == "first attempt fails"
    assert details.attempts[0].logs == "attempt 0\n"
    assert details.logs() == "attempt 1\n"
    assert details.attempts[1].error_info is None


def test_failed_run_phase_error_and_outputs_raise(wf) -> None:
    started = flyte.with_runcontext().start(wf.broken, x=5)
    run = remote.Run.get(started.name)
    assert run.phase is ActionPhase.FAILED
    assert "no key 5" in run.error_info["message"]
    with pytest.raises(flyte.errors.RuntimeUserError, match="no key 5"):
        run.outputs()
    failure = run.first_failure()
    assert failure is not None and failure.error_info["type"] == "builtins.KeyError"
    run.abort()  # a finished run: nothing to do
    assert remote.Run.get(started.name).phase is ActionPhase.FAILED


def test_listall_filters(wf) -> None:
    ok = flyte.run(wf.square, x=1).name
    bad = flyte.with_runcontext().start(wf.broken, x=1).name
    other = flyte.run(wf.main, x=1).name
    names = lambda runs: [r.name for r in runs]  # noqa: E731
    assert names(remote.Run.listall()) == [other, bad, ok]  # newest first
    assert names(remote.Run.listall(in_phase=(ActionPhase.FAILED,))) == [bad]
    assert names(remote.Run.listall(in_phase=("succeeded",), task_name="remote_wf.square")) == [ok]
    assert names(remote.Run.listall(sort_by=("created_at", "asc"), limit=2)) == [ok, bad]
    with pytest.raises(flyte.errors.InvalidParameterError, match="in_phase"):
        list(remote.Run.listall(in_phase=("bogus",)))
    with pytest.raises(flyte.errors.InvalidParameterError, match="sort_by"):
        list(remote.Run.listall(sort_by=("name; DROP TABLE runs", "asc")))
    with pytest.raises(flyte.errors.InvalidParameterError, match="limit"):
        list(remote.Run.listall(limit=0))


def test_aio_entry_points(wf) -> None:
    import asyncio

    name = flyte.run(wf.square, x=4).name

    async def read() -> tuple[object, object]:
        run = await remote.Run.get.aio(name)
        return run, await run.outputs.aio()

    run, out = asyncio.run(read())
    assert out[0] == 16 and run.phase is ActionPhase.SUCCEEDED  # type: ignore[attr-defined,index]


def test_unknown_run_is_a_clear_error() -> None:
    with pytest.raises(flyte.errors.RunNotFoundError, match="no run named 'nope'"):
        remote.Run.get("nope")


SLOW = """
import sys, flyte
sys.path.insert(0, {apps!r})
env = flyte.TaskEnvironment("slow_remote")

@env.task
async def slow(n: int) -> int:
    import asyncio
    print("started", flush=True)
    await asyncio.sleep(n)
    return n

if __name__ == "__main__":
    flyte.run(slow, n=int(sys.argv[1]))
"""


def _start_slow(tmp_path: Path, seconds: int) -> tuple[subprocess.Popen[str], str]:
    script = tmp_path / "slow_remote.py"
    script.write_text(SLOW.format(apps=str(tmp_path)))
    proc = subprocess.Popen([sys.executable, str(script), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    runs = list(remote.Run.listall(task_name="slow_remote.slow"))
    assert len(runs) == 1
    return proc, runs[0].name


def test_wait_follows_a_run_of_another_process(tmp_path: Path) -> None:
    proc, name = _start_slow(tmp_path, 1)
    run = remote.Run.get(name)
    assert run.phase is ActionPhase.RUNNING and not run.done()
    run.wait()
    assert run.phase is ActionPhase.SUCCEEDED and run.outputs()[0] == 1
    proc.wait(timeout=30)


def test_abort_of_a_live_run_says_why_it_cannot_and_marks_an_interrupted_one(tmp_path: Path) -> None:
    proc, name = _start_slow(tmp_path, 60)
    try:
        run = remote.Run.get(name)
        with pytest.raises(flyte.errors.RuntimeUserError, match=f"process {proc.pid}"):
            run.abort()
        assert remote.Run.get(name).phase is ActionPhase.RUNNING
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    run = remote.Run.get(name)
    assert run.status == "INTERRUPTED" and run.done()
    run.abort(reason="killed by the test")
    run = remote.Run.get(name)
    assert run.status == "ABORTED" and run.phase is ActionPhase.ABORTED
    assert run.error_info["message"] == "killed by the test"
    assert all(a.phase is ActionPhase.ABORTED for a in run.actions())


def test_admin_entities_need_a_backend() -> None:
    for call in (
        lambda: remote.Project.get("p"),
        lambda: remote.Secret.create("s", "v"),
        lambda: remote.User.get(),
        lambda: remote.Secret.listall(),
        lambda: remote.Trigger.get("t"),
    ):
        with pytest.raises(remote.NoBackendError, match="needs a Flyte backend"):
            call()
    assert set(remote.__all__) >= {
        "Run",
        "Action",
        "ActionDetails",
        "Task",
        "App",
        "Project",
        "Secret",
        "User",
    }


def test_app_get_reads_the_app_registry(tmp_path: Path) -> None:
    from flyte.app._registry import AppNotRunningError, write_entry

    with pytest.raises(AppNotRunningError, match="'web' is not being served"):
        remote.App.get("web")
    write_entry("web", {"url": "http://127.0.0.1:9999", "pid": os.getpid(), "replicas": []})
    app = remote.App.get("web")
    assert app.name == "web" and app.endpoint == "http://127.0.0.1:9999" and app.is_active()


def test_cli_runs_list_uses_the_same_records(wf) -> None:
    from click.testing import CliRunner
    from flyte.cli.main import cli

    name = flyte.with_runcontext().start(wf.broken, x=1).name
    flyte.run(wf.square, x=1)
    result = CliRunner().invoke(cli, ["runs", "list", "--status", "failed"])
    assert result.exit_code == 0, result.output
    assert name in result.output and "remote_wf.square" not in result.output


def test_import_is_lazy() -> None:
    # the lazy package: importing flyte.remote loads none of its submodules
    code = textwrap.dedent(
        """
        import sys, flyte.remote
        print(sorted(m for m in sys.modules if m.startswith("flyte.remote.")))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
