"""Container tasks on a real runtime (podman here; docker works the same): every test starts real
containers from images built locally, inside real runs, and checks that none is left behind."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.register_assert_rewrite("container_test_support")

import flyte  # noqa: E402
import flyte.errors  # noqa: E402
from container_test_support import BUSYBOX, PYTHON, containers, run_logs  # noqa: E402
from flyte.io import Dir, File  # noqa: E402
from flyteplugins.container import ContainerOutputError, ContainerTask, ContainerTaskError  # noqa: E402

pytest_plugins = ["container_test_support"]  # the runtime / images / flyte_home fixtures
pytestmark = pytest.mark.usefixtures("images")


@dataclass
class Stats:
    words: int
    first: str


stats = ContainerTask(
    name="ctr.stats",
    image=BUSYBOX,
    command=["sh", "-c"],
    arguments=[
        "set -e; "
        "wc -w < {{.inputs.text}} | tr -d ' ' > /var/outputs/words; "
        "echo -n {{.inputs.label}}-{{ .inputs.n }} > /var/outputs/label; "
        "cat /var/inputs/flag > /var/outputs/flag; "
        'printf \'{"words": %s, "first": "%s"}\' "$(cat /var/outputs/words)" '
        '"$(head -n1 {{.inputs.text}})" > /var/outputs/summary; '
        "cp /var/inputs/inputs.json /var/outputs/meta; "
        "echo done with {{.inputs.label}}"
    ],
    inputs={"text": File, "label": str, "n": int, "ratio": float, "flag": bool},
    outputs={"words": int, "label": str, "flag": bool, "summary": Stats, "meta": File},
)

env = flyte.TaskEnvironment(name="ctr_host")


@env.task
async def make_text(lines: list[str]) -> File:
    path = Path.cwd() / "text.txt"
    path.write_text("\n".join(lines) + "\n")
    return await File.from_local(path)


@env.task
async def pipeline(lines: list[str]) -> dict[str, str]:
    text = await make_text(lines)
    out = await stats(text=text, label="x", n=7, ratio=0.25, flag=True)
    async with out.meta.open("rb") as f:
        meta = (await f.read()).decode()
    return {
        "words": str(out.words),
        "label": out.label,
        "flag": str(out.flag),
        "summary": f"{out.summary.words}/{out.summary.first}",
        "meta": meta,
    }


def test_command_task_with_typed_inputs_and_outputs(runtime: str, flyte_home: Path) -> None:
    run = flyte.run(pipeline, lines=["alpha beta", "gamma"])
    assert run.status == "SUCCEEDED", run.error
    out = run.outputs()[0]
    assert out["words"] == "3" and out["label"] == "x-7" and out["flag"] == "True"
    assert out["summary"] == "3/alpha beta"
    meta = json.loads(out["meta"])
    assert meta == {"flag": True, "label": "x", "n": 7, "ratio": 0.25, "text": "/var/inputs/text"}
    logs = run_logs(flyte_home, run.name)
    assert len(logs) == 1
    (log,) = logs.values()
    assert "done with x" in log and "# exit code 0" in log
    assert containers(runtime, run=run.name) == []


reader = ContainerTask(
    name="ctr.reader",
    image=BUSYBOX,
    command=[
        "sh",
        "-c",
        "cat {{.inputs.f}} > /var/outputs/content; ls {{.inputs.d}} | tr '\\n' ',' > /var/outputs/listing; "
        "if echo x > {{.inputs.f}} 2>/dev/null || touch {{.inputs.d}}/new 2>/dev/null "
        "|| touch /var/inputs/new 2>/dev/null; then echo writable > /var/outputs/mode; "
        "else echo read-only > /var/outputs/mode; fi",
    ],
    inputs={"f": File, "d": Dir},
    outputs={"content": str, "listing": str, "mode": str},
)


@env.task
async def read_inputs(f: File, d: Dir) -> tuple[str, str, str]:
    out = await reader(f=f, d=d)
    return out.content, out.listing, out.mode


def test_file_and_dir_inputs_are_mounted_read_only(runtime: str, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("payload\n")
    d = tmp_path / "folder"
    d.mkdir()
    (d / "a.txt").write_text("1")
    (d / "b.txt").write_text("2")
    run = flyte.run(read_inputs, f=File(path=str(src)), d=Dir(path=str(d)))
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs() == ("payload", "a.txt,b.txt,", "read-only")  # str: one trailing newline dropped
    assert src.read_text() == "payload\n" and sorted(p.name for p in d.iterdir()) == ["a.txt", "b.txt"]


hog = ContainerTask(
    name="ctr.hog",
    image=BUSYBOX,
    command=["sh", "-c", "echo filling memory; exec tail /dev/zero"],
    resources=flyte.Resources(memory="32Mi"),
)


@env.task
async def survive_oom() -> str:
    try:
        await hog()
    except flyte.errors.OOMError as e:
        return str(e)
    return "no OOM"


def test_memory_limit_oom_is_oom_error(runtime: str) -> None:
    run = flyte.run(survive_oom)
    assert run.status == "SUCCEEDED", run.error
    msg = run.outputs()[0]
    assert "ran out of memory" in msg and "exit code 137" in msg and "32 MiB" in msg
    assert "filling memory" in msg  # the last log lines
    assert containers(runtime, run=run.name) == []


failing = ContainerTask(
    name="ctr.failing",
    image=BUSYBOX,
    command=["sh", "-c", "echo step one; echo broke on {{.inputs.what}} >&2; exit 3"],
    inputs={"what": str},
    retries=1,
)


def test_non_zero_exit_fails_with_code_and_last_lines(runtime: str, flyte_home: Path) -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(failing, what="purpose")
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    err = run.error
    assert err is not None
    assert "exited with code 3" in str(err) and "broke on purpose" in str(err) and "step one" in str(err)
    assert "logs/attempt-1.log" in str(err)  # retried once: two attempts, each with its log
    assert sorted(Path(p).name for p in run_logs(flyte_home, run.name)) == ["attempt-0.log", "attempt-1.log"]
    assert containers(runtime, run=run.name) == []


@env.task
async def catch_it() -> str:
    try:
        await failing(what="x")
    except ContainerTaskError as e:
        assert isinstance(e, flyte.errors.RuntimeUserError)
        return f"{e.code} {e.exit_code}"
    return "no error"


def test_non_zero_exit_error_type_reaches_the_parent(runtime: str) -> None:
    run = flyte.run(catch_it)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == "ContainerTaskError 3"


sleeper = ContainerTask(
    name="ctr.sleeper",
    image=BUSYBOX,
    command=["sh", "-c", "echo sleeping; sleep {{.inputs.seconds}}"],
    inputs={"seconds": int},
    timeout=2,
)


def test_timeout_stops_and_removes_the_container(runtime: str) -> None:
    started = time.monotonic()
    with pytest.raises(Exception) as failed:
        flyte.run(sleeper, seconds=120)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    elapsed = time.monotonic() - started
    assert run.status == "FAILED"
    assert "timeout" in str(run.error) and elapsed < 20
    assert containers(runtime, run=run.name) == []


def test_a_cancelled_container_deaf_to_sigterm_is_gone_within_the_stop_deadline(runtime: str) -> None:
    """Cancelled while it runs, a container that ignores SIGTERM gets SIGKILL after STOP_GRACE_SECONDS
    and is removed: run_container returns within the documented stop deadline, even under load."""
    from flyteplugins.container._engine import (
        RM_CALL_SECONDS,
        STOP_CALL_SECONDS,
        STOP_GRACE_SECONDS,
        ContainerSpec,
        LogSink,
        container_name,
        run_container,
    )
    from flyteplugins.container._runtime import find_runtime

    name = container_name("stop-deadline")
    script = "trap '' TERM; echo started; while true; do sleep 1; done"
    spec = ContainerSpec(image=BUSYBOX, argv=["sh", "-c", script], name=name, labels={"flyte.run": name})
    sink = LogSink("stop-deadline", None, echo=False)

    async def cancel_once_started() -> float:
        task = asyncio.ensure_future(run_container(find_runtime(), spec, sink))
        deadline = time.monotonic() + 120
        while "started" not in sink.tail:  # running inside its container now
            assert not task.done(), task.result()
            assert time.monotonic() < deadline, "the container did not start in 120 s"
            await asyncio.sleep(0.05)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - t0

    took = asyncio.run(cancel_once_started())
    assert STOP_GRACE_SECONDS <= took < STOP_CALL_SECONDS + RM_CALL_SECONDS, f"stopping took {took:.1f}s"
    assert containers(runtime, run=name) == []


@env.task(timeout=3)
async def impatient() -> int:
    await sleeper.override(timeout=None)(seconds=120)
    return 1


def test_cancelled_child_container_is_removed(runtime: str) -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(impatient)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    assert containers(runtime, run=run.name) == []


bad_outputs = ContainerTask(
    name="ctr.bad_outputs",
    image=BUSYBOX,
    command=["sh", "-c", "echo -n {{.inputs.value}} > /var/outputs/n"],
    inputs={"value": str},
    outputs={"n": int},
)
missing_output = ContainerTask(
    name="ctr.missing_output",
    image=BUSYBOX,
    command=["sh", "-c", "echo forgot"],
    outputs={"result": float},
)


def test_unparsable_and_missing_outputs_name_output_and_file(runtime: str) -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(bad_outputs, value="not-a-number")
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    assert "output 'n' must be int" in str(run.error) and "/var/outputs/n" in str(run.error)
    assert "not-a-number" in str(run.error)
    with pytest.raises(Exception) as failed:
        flyte.run(missing_output)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    assert "output 'result' is missing" in str(run.error) and "/var/outputs/result" in str(run.error)


secretive = ContainerTask(
    name="ctr.secretive",
    image=BUSYBOX,
    command=[
        "sh",
        "-c",
        "echo -n $GREETING-$API_TOKEN > /var/outputs/seen; "
        "{ cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; } "
        "> /var/outputs/cpu",
    ],
    outputs={"seen": str, "cpu": str},
    env_vars={"GREETING": "hi"},
    secrets=[flyte.Secret("api-token")],
    resources=flyte.Resources(cpu="500m", memory="64Mi"),
)


def test_env_vars_secrets_and_cpu_limit(
    runtime: str, flyte_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t")
    run = flyte.run(secretive)
    assert run.status == "SUCCEEDED", run.error
    seen, cpu = run.outputs()  # two outputs: o0, o1
    assert seen == "hi-s3cr3t"
    assert cpu.split()[0] == "50000"  # cgroup v1 quota for 0.5 CPU at the default 100 ms period
    (log,) = run_logs(flyte_home, run.name).values()
    assert "s3cr3t" not in log and "-e API_TOKEN" in log and "--cpus 0.5" in log
    monkeypatch.delenv("API_TOKEN")
    with pytest.raises(Exception) as failed:
        flyte.run(secretive)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED" and "set the environment variable API_TOKEN" in str(run.error)


async def test_plain_call_outside_a_run(runtime: str) -> None:
    out = await bad_outputs(value="41")
    assert out == 41
    with pytest.raises(ContainerOutputError, match="output 'n' must be int"):
        await bad_outputs(value="forty-one")


# ---- Python tasks in their image (isolation="container") ----------------------------------------------

in_image = flyte.TaskEnvironment(name="ctr_image", image=PYTHON, resources=flyte.Resources(memory="256Mi"))


@dataclass
class Report:
    total: int
    bootstrap_seen: bool


@in_image.task
async def summarize(numbers: list[int], source: File) -> Report:
    import os

    async with source.open("rb") as f:
        extra = int((await f.read()).decode().strip())
    # The bootstrap exists only in the container's input directory: proof that this ran there.
    return Report(
        total=sum(numbers) + extra, bootstrap_seen=os.path.exists("/var/inputs/_flyte_bootstrap.py")
    )


@in_image.task
def write_file(text: str) -> File:
    path = "/tmp/made-in-container.txt"
    with open(path, "w") as f:
        f.write(text.upper())
    return File.from_local_sync(path)


@in_image.task
def explode(n: int) -> int:
    raise ValueError(f"bad n {n}")


@in_image.task
def gobble(mb: int) -> int:
    blocks = [bytearray(b"x") * (1024 * 1024) for _ in range(mb)]  # written, so really resident
    return len(blocks)


@env.task
async def orchestrate(numbers: list[int], source: File) -> tuple[int, bool, str, str]:
    report = await summarize(numbers, source)
    made = await write_file.aio("shipped back")  # a sync task, called from async code
    async with made.open("rb") as f:
        content = (await f.read()).decode()
    try:
        await explode.aio(3)
        caught = "no error"
    except ValueError as e:
        caught = f"{type(e).__name__}: {e}"
    return report.total, report.bootstrap_seen, content, caught


def test_python_tasks_run_in_their_image(runtime: str, tmp_path: Path, flyte_home: Path) -> None:
    src = tmp_path / "extra.txt"
    src.write_text("100\n")
    run = flyte.with_runcontext(isolation="container").run(
        orchestrate, numbers=[1, 2, 3], source=File(path=str(src))
    )
    assert run.status == "SUCCEEDED", run.error
    total, in_container, content, caught = run.outputs()
    assert total == 106 and in_container is True
    assert content == "SHIPPED BACK"
    assert caught == "RuntimeUserError: bad n 3"  # caught as ValueError, named as the anchor names it
    assert containers(runtime, run=run.name) == []
    conn = sqlite3.connect(flyte_home / "journal.db")
    modes = dict(conn.execute("SELECT task_name, mode FROM actions WHERE run=?", (run.name,)).fetchall())
    assert modes["ctr_host.orchestrate"] == "inline"
    assert {modes[f"ctr_image.{t}"] for t in ("summarize", "write_file", "explode")} == {"container"}
    logs = run_logs(flyte_home, run.name)
    assert any("ValueError: bad n 3" in text for text in logs.values())  # the container's traceback


def test_python_task_in_container_oom(runtime: str) -> None:
    small = gobble.override(resources=flyte.Resources(memory="64Mi"))
    with pytest.raises(Exception) as failed:
        flyte.with_runcontext(isolation="container").run(small, mb=400)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    assert isinstance(run.error, flyte.errors.OOMError) or "ran out of memory" in str(run.error)
    assert containers(runtime, run=run.name) == []


def test_without_container_isolation_tasks_run_here(runtime: str) -> None:
    with pytest.raises(Exception) as failed:
        flyte.with_runcontext(isolation="inline").run(explode, n=1)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED" and "bad n 1" in str(run.error)
    assert containers(runtime, run=run.name) == []
