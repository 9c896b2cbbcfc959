"""The shell plugin end to end: discovered through its entry point, run inside real flyte runs."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import flyte
import flyte._config
import flyte.errors
import pytest
from flyte.io import Dir, File
from flyteplugins.shell import ShellOutputError, ShellTask, ShellTaskError

GOLDEN = Path(__file__).parent / "golden" / "count_lines.spec.json"

env = flyte.TaskEnvironment(name="shell-tests")

count_lines = ShellTask(
    name="count_lines",
    script=(
        "wc -l < {inputs.path} | tr -d ' ' > {outputs.count}\n"
        "head -n {inputs.n} {inputs.path} > {outputs.report}\n"
    ),
    inputs={"n": int, "path": File},
    outputs={"count": int, "report": File},
)


@env.task
async def write_lines(lines: int) -> File:
    path = Path(os.environ["SHELL_TEST_DIR"]) / "input.txt"
    path.write_text("".join(f"line {i}\n" for i in range(lines)))
    return await File.from_local(path)


@env.task
async def pipeline(lines: int, head: int) -> tuple[int, str]:
    f = await write_lines(lines)
    res = await count_lines(n=head, path=f)
    async with res.report.open("rb") as fh:
        report = (await fh.read()).decode()
    return res.count, report


def _run(task: object, **inputs: object) -> flyte.Run:
    return flyte.run(task, **inputs)  # type: ignore[arg-type]


def _run_failing(task: object, **inputs: object) -> flyte.Run:
    """A run that fails: ``flyte.run`` raises the task's error, which carries the run."""
    with pytest.raises(Exception) as failed:
        flyte.run(task, **inputs)  # type: ignore[arg-type]
    run: flyte.Run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.error is failed.value
    return run


@pytest.fixture(autouse=True)
def flyte_home(flyte_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """flyte.testing's fixture (a fresh FLYTE_HOME and settings per test), and a scratch
    directory for the scripts' files."""
    monkeypatch.setenv("SHELL_TEST_DIR", str(flyte_home.parent))
    return flyte_home


def pid_alive(pid: int) -> bool:
    """True while the process exists and has not exited (a zombie has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


async def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} was never written")


# ---- discovery --------------------------------------------------------------------------------------


def test_discovered_through_its_entry_point() -> None:
    import flyteplugins
    from flyte._plugins.manager import load_plugins, task_type_entry

    state = load_plugins(reload=True)
    info = state.plugins["shell"]
    assert (info.distribution, info.module, info.error) == (
        "flyte-contrib-shell",
        "flyteplugins.shell.hooks",
        None,
    )
    assert info.task_types == ["shell"]
    entry = task_type_entry("shell")
    assert entry.template_cls is ShellTask and entry.backend is None and entry.plugin == "shell"
    # flyteplugins is a namespace package shared by all plugin distributions
    assert getattr(flyteplugins, "__file__", None) is None


# ---- workflows ----------------------------------------------------------------------------------------


def test_shell_task_in_a_workflow_with_python_tasks() -> None:
    run = _run(pipeline, lines=7, head=2)
    assert run.status == "SUCCEEDED", run.error
    count, report = run.outputs()
    assert count == 7
    assert report == "line 0\nline 1\n"


async def test_called_outside_a_run_is_a_plain_call(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a\nb\nc\n")
    res = await count_lines(n=1, path=File(path=str(src)))
    assert res.count == 3
    assert Path(res.report.path).read_text() == "a\n"
    count, report = res  # a NamedTuple: unpacks in declaration order
    assert (count, report) == (res.count, res.report)


scalars = ShellTask(
    name="scalars",
    script=(
        "echo 2.5 > {outputs.ratio}\nprintf '%s' {inputs.word} > {outputs.word}\necho TRUE > {outputs.flag}\n"
    ),
    inputs={"word": str},
    outputs={"ratio": float, "word": str, "flag": bool},
)

single = ShellTask(
    name="single", script="echo $(( {inputs.x} * 2 )) > {outputs.y}", inputs={"x": int}, outputs={"y": int}
)
no_outputs = ShellTask(name="no_outputs", script="true {inputs.x}", inputs={"x": int})


@env.task
async def typed_outputs(word: str) -> dict[str, object]:
    s = await scalars(word=word)
    return {
        "ratio": s.ratio,
        "word": s.word,
        "flag": s.flag,
        "y": await single(x=21),
        "none": await no_outputs(x=1),
    }


def test_outputs_are_parsed_to_their_types() -> None:
    run = _run(typed_outputs, word="two words")
    assert run.outputs()[0] == {"ratio": 2.5, "word": "two words", "flag": True, "y": 42, "none": None}


make_dir = ShellTask(
    name="make_dir",
    script="for i in $(seq {inputs.n}); do echo $i > {outputs.d}/f$i.txt; done",
    inputs={"n": int},
    outputs={"d": Dir},
)
count_files = ShellTask(
    name="count_files", script="ls {inputs.d} | wc -l > {outputs.n}", inputs={"d": Dir}, outputs={"n": int}
)


@env.task
async def dirs(n: int) -> int:
    return await count_files(d=await make_dir(n=n))


def test_dir_outputs_and_inputs() -> None:
    assert _run(dirs, n=4).outputs()[0] == 4


def test_env_vars_reach_the_script(tmp_path: Path) -> None:
    greet = ShellTask(
        name="greet",
        script='echo "$GREETING, $WHO" > {outputs.text}',
        outputs={"text": str},
        env={"GREETING": "hello"},
        env_vars={"WHO": "world"},
    )
    assert greet.env_vars == {"WHO": "world", "GREETING": "hello"}
    assert asyncio.run(greet()) == "hello, world"


# ---- failures -------------------------------------------------------------------------------------------

failing = ShellTask(
    name="failing",
    script='echo starting\nfor i in 1 2 3; do echo "problem $i" >&2; done\nexit 3\necho {outputs.x}',
    outputs={"x": int},
)


def test_non_zero_exit_fails_with_code_and_stderr() -> None:
    run = _run_failing(failing)
    assert run.status == "FAILED"
    err = run.error
    assert isinstance(err, ShellTaskError)
    assert isinstance(err, flyte.errors.RuntimeUserError) and err.code == "ShellTaskError"
    assert err.exit_code == 3
    assert "exited with code 3" in str(err)
    assert "problem 1\n  problem 2\n  problem 3" in str(err)
    assert "starting" not in str(err)  # stdout is not stderr


def test_killed_by_signal_is_named() -> None:
    t = ShellTask(name="suicide", script="kill -9 $$")
    with pytest.raises(ShellTaskError, match="killed by signal SIGKILL"):
        asyncio.run(t())


def test_missing_output_names_the_output_and_the_file() -> None:
    t = ShellTask(
        name="lazy",
        script="echo 1 > {outputs.result}\n: {outputs.other}",
        outputs={"result": int, "other": str},
    )
    run = _run_failing(t)
    assert run.status == "FAILED"
    assert isinstance(run.error, ShellOutputError)
    msg = str(run.error)
    assert "output 'other' is missing" in msg
    assert "/outputs/other" in msg and run.error.output == "other"


def test_unparsable_output_names_the_output_the_type_and_the_file() -> None:
    t = ShellTask(name="wrong", script="echo forty-two > {outputs.n}", outputs={"n": int})
    with pytest.raises(ShellOutputError) as e:
        asyncio.run(t())
    msg = str(e.value)
    assert "output 'n' must be int" in msg and "'forty-two\\n'" in msg and e.value.path.endswith("/outputs/n")


def test_retries_rerun_the_script(tmp_path: Path) -> None:
    state = tmp_path / "attempts"
    flaky = ShellTask(
        name="flaky",
        script=(
            "echo x >> {inputs.state}\n[ $(wc -l < {inputs.state}) -ge 2 ] || exit 1\necho ok > {outputs.out}"
        ),
        inputs={"state": str},
        outputs={"out": str},
        retries=1,
    )
    assert flaky.retries == flyte.RetryStrategy(count=1)
    run = _run(flaky, state=str(state))
    assert run.outputs()[0] == "ok"
    assert state.read_text() == "x\nx\n"


# ---- inputs are data, never code -----------------------------------------------------------------------

echo = ShellTask(
    name="echo",
    script="printf '%s' {inputs.text} > {outputs.text}",
    inputs={"text": str},
    outputs={"text": str},
)


@pytest.mark.parametrize(
    "template",
    [
        "x; rm -rf {zzz}",
        "$(rm -rf {zzz})",
        "`rm -rf {zzz}`",
        "x' ; rm -rf {zzz} ; '",
        'x" ; rm -rf {zzz} ; "',
        "x\nrm -rf {zzz}",
        "x && rm -rf {zzz} # {{inputs.text}}",
        "-n",
    ],
)
def test_injection_attempts_are_data(tmp_path: Path, template: str) -> None:
    zzz = tmp_path / "zzz"
    zzz.mkdir()
    (zzz / "keep").write_text("still here")
    payload = template.format(zzz=zzz)
    run = _run(echo, text=payload)
    assert run.outputs()[0] == payload
    assert (zzz / "keep").read_text() == "still here"


def test_the_brief_injection_string_is_data() -> None:
    rendered = echo.render_script({"text": "x; rm -rf /tmp/zzz"}, "/out")
    assert rendered == "printf '%s' 'x; rm -rf /tmp/zzz' > /out/text"
    assert asyncio.run(echo(text="x; rm -rf /tmp/zzz")) == "x; rm -rf /tmp/zzz"


@pytest.mark.parametrize(
    "script",
    [
        "echo '{inputs.x}' > {outputs.y}",
        'echo "{inputs.x}" > {outputs.y}',
        "echo \"value: $(echo '{inputs.x}')\" > {outputs.y}",
        "cat > {outputs.y} <<EOF\n{inputs.x}\nEOF",
        "cat > {outputs.y} <<-'EOF'\n\tsome {inputs.x}\n\tEOF",
    ],
)
def test_placeholders_inside_quotes_are_refused_at_definition(script: str) -> None:
    with pytest.raises(ValueError, match=r"placeholder \{inputs.x\} on line \d+ stands in a"):
        ShellTask(name="quoted", script=script, inputs={"x": str}, outputs={"y": str})


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ('echo "$(cat {inputs.x})" > {outputs.y}', "hello world"),  # $(...) is a fresh unquoted context
        ("# it's fine to have apostrophes in comments\ncat {inputs.x} > {outputs.y}", "hello world"),
        ("awk '{print $1}' {inputs.x} > {outputs.y}", "hello"),  # other braces are not placeholders
        (
            'v={inputs.x}\ncat > {outputs.y} <<EOF\n$(cat "$v") isn\'t quoted twice\nEOF',
            "hello world isn't quoted twice",
        ),
        ("echo `cat {inputs.x}` > {outputs.y}", "hello world"),
    ],
)
def test_placeholders_in_code_are_accepted(script: str, expected: str, tmp_path: Path) -> None:
    t = ShellTask(name="ok", script=script, inputs={"x": str}, outputs={"y": str})
    f = tmp_path / "it's a file"
    f.write_text("hello world\n")
    assert asyncio.run(t(x=str(f))).strip() == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"script": "echo {inputs.y}", "inputs": {"x": int}},
            "declares no input 'y'; declared inputs: ['x']",
        ),
        ({"script": "echo hi", "outputs": {"r": int}}, "output 'r' is declared but the script never writes"),
        ({"script": "echo {outputs.r}", "outputs": {"r": list}}, "supported types are int, float, str, bool"),
        ({"script": "echo", "inputs": {"not-valid": int}}, "must be a Python identifier"),
        ({"script": "  "}, "script must be a non-empty string"),
        ({"script": "echo", "env": {"A": 1}}, "env must map str to str"),
    ],
)
def test_definition_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as e:
        ShellTask(name="bad", **kwargs)  # type: ignore[arg-type]
    assert message in str(e.value)


# ---- cancellation and timeouts kill the script ---------------------------------------------------------

SLOW_SCRIPT = "sleep 60 &\necho $! > {inputs.child_pid}\necho $$ > {inputs.pid}\nwait\necho done"

slow = ShellTask(name="slow", script=SLOW_SCRIPT, inputs={"pid": str, "child_pid": str}, timeout=1)


def test_timeout_kills_the_script_and_its_children(tmp_path: Path) -> None:
    pid_file, child_file = tmp_path / "pid", tmp_path / "child"
    started = time.monotonic()
    run = _run_failing(slow, pid=str(pid_file), child_pid=str(child_file))
    assert time.monotonic() - started < 20
    assert isinstance(run.error, flyte.errors.MaxRuntimeExceededError), run.error
    assert wait_gone(int(pid_file.read_text()))
    assert wait_gone(int(child_file.read_text()))


async def test_cancellation_outside_a_run_kills_the_script(tmp_path: Path) -> None:
    pid_file, child_file = tmp_path / "pid", tmp_path / "child"
    untimed = slow.override(timeout=None)
    task = asyncio.create_task(untimed(pid=str(pid_file), child_pid=str(child_file)))
    pid = int(await wait_for_file(pid_file))
    child = int(await wait_for_file(child_file))
    assert pid_alive(pid) and pid_alive(child)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_gone(pid) and wait_gone(child)


slow_untimed = ShellTask(name="slow_untimed", script=SLOW_SCRIPT, inputs={"pid": str, "child_pid": str})


@env.task
async def impatient(pid: str, child_pid: str) -> str:
    try:
        await asyncio.wait_for(slow_untimed(pid=pid, child_pid=child_pid), timeout=1.0)
    except TimeoutError:
        return "gave up"
    return "finished"


def test_cancelling_the_child_action_kills_the_script(tmp_path: Path) -> None:
    pid_file, child_file = tmp_path / "pid", tmp_path / "child"
    run = _run(impatient, pid=str(pid_file), child_pid=str(child_file))
    assert run.outputs()[0] == "gave up"
    assert wait_gone(int(pid_file.read_text()))
    assert wait_gone(int(child_file.read_text()))


# ---- cache --------------------------------------------------------------------------------------------


def test_cache_auto_reuses_the_result_across_runs(tmp_path: Path) -> None:
    counter = tmp_path / "ran"
    cached = ShellTask(
        name="cached",
        script="echo x >> {inputs.log}\necho {inputs.n} > {outputs.n}",
        inputs={"log": str, "n": int},
        outputs={"n": int},
        cache="auto",
    )
    assert [_run(cached, log=str(counter), n=5).outputs()[0] for _ in range(2)] == [5, 5]
    assert counter.read_text() == "x\n"


# ---- the spec -----------------------------------------------------------------------------------------


def test_hooks() -> None:
    from flyte.extend import SerializationContext

    sctx = SerializationContext(output_path="/var/outputs")
    assert count_lines.custom_config(sctx) == {
        "script": count_lines.script,
        "shell": "/bin/bash",
        "outputs": {"count": "int", "report": "file"},
    }
    assert count_lines.container_args(sctx) == [
        "/bin/bash",
        "-c",
        "wc -l < '{{.inputs.path}}' | tr -d ' ' > /var/outputs/count\n"
        "head -n '{{.inputs.n}}' '{{.inputs.path}}' > /var/outputs/report\n",
    ]


def test_spec_golden() -> None:
    spec = count_lines.spec().model_dump(mode="json")
    identity, version = spec.pop("identity"), spec.pop("version")
    assert len(identity) == len(version) == 32
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    assert spec == json.loads(GOLDEN.read_text()), "spec changed; rerun with UPDATE_GOLDEN=1 if intended"


def test_identity_follows_the_script() -> None:
    same = ShellTask(
        name="count_lines", script=count_lines.script, inputs=count_lines.inputs, outputs=count_lines.outputs
    )
    edited = ShellTask(
        name="count_lines",
        script=count_lines.script + "true\n",
        inputs=count_lines.inputs,
        outputs=count_lines.outputs,
    )
    assert same.identity == count_lines.identity
    assert edited.identity != count_lines.identity


def test_override_keeps_a_shell_task() -> None:
    t = count_lines.override(retries=2, timeout=30)
    assert isinstance(t, ShellTask) and t.task_type == "shell"
    assert t.retries.count == 2 and t.timeout is not None and t.timeout.max_runtime_seconds == 30
    assert t.interface == count_lines.interface and count_lines.retries.count == 0
