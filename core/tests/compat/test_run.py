"""``flyte.run`` and friends behave as the reference SDK's (flyte 2.x) do in local mode.

Value shapes (``ActionOutputs``, ``Run.phase``), sync/async entry points, the reference signatures,
failures raised as the task's own error, and unknown keywords refused. Real runs in a temp home.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import flyte
import flyte.errors
import pytest
from flyte._run import ActionOutputs, ActionPhase, configured_domain, configured_project

env = flyte.TaskEnvironment(name="compat_run")


@pytest.fixture(autouse=True)
def no_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """org/project/domain given to init in one test stay out of the others."""
    import flyte._run

    monkeypatch.setattr(flyte._run, "_identity", {"org": None, "project": None, "domain": None})


class Stats(NamedTuple):
    total: int
    label: str
    index: int


@env.task
async def plus_one(x: int) -> int:
    return x + 1


@env.task
async def pair(x: int) -> tuple[int, str]:
    return x, str(x)


@env.task
async def stats(x: int) -> Stats:
    return Stats(x, f"n={x}", 9)


@env.task
async def nothing(x: int) -> None:
    return None


@env.task
def sync_double(x: int) -> int:
    return 2 * x


@env.task
async def fails_unless(marker: str) -> str:
    if not os.path.exists(marker):
        raise ValueError(f"no marker at {marker}")
    return "fixed"


@env.task
async def parent_of_failing(marker: str) -> str:
    return await fails_unless(marker)


@env.task
async def custom_seen() -> dict[str, str]:
    return flyte.get_custom_context()


@env.task
async def seen_by_child() -> dict[str, str]:
    return await custom_seen()


# ---- value shapes --------------------------------------------------------------------------------
def test_one_output_is_a_one_tuple_with_o0() -> None:
    run = flyte.run(plus_one, 3)
    out = run.outputs()
    assert isinstance(out, ActionOutputs) and isinstance(out, tuple)
    assert len(out) == 1 and out[0] == 4 and out.o0 == 4
    assert out == (4,) and out != 4  # no unwrapping, as the reference SDK
    (value,) = out
    assert value == 4
    assert out.named_outputs == {"o0": 4}
    assert repr(out) == "ActionOutputs(o0=4)"


def test_tuple_and_namedtuple_outputs_spread_over_o0_o1() -> None:
    out = flyte.run(pair, 7).outputs()
    assert out == (7, "7") and (out.o0, out.o1) == (7, "7")
    assert repr(out) == 'ActionOutputs(o0=7, o1="7")'
    nt = flyte.run(stats, 2).outputs()
    assert nt == (2, "n=2", 9) and nt.named_outputs == {"o0": 2, "o1": "n=2", "o2": 9}
    assert (nt.total, nt.label) == (2, "n=2")  # the NamedTuple's own names work too
    assert nt.index(9) == 2  # ... but never hide a tuple method


def test_none_output_is_a_one_tuple_of_none() -> None:
    out = flyte.run(nothing, 1).outputs()
    assert out == (None,) and out.o0 is None and len(out) == 1


def test_run_handle_name_url_phase_wait_done() -> None:
    run = flyte.with_runcontext(name="shape-1").run(sync_double, 21)
    assert run.name == "shape-1" and "shape-1" in run.url
    assert run.phase is ActionPhase.SUCCEEDED and run.phase == "succeeded" and run.phase.is_terminal
    assert run.status == "SUCCEEDED"  # this SDK's journal word, still there
    assert run.wait() is None and run.done()
    assert run.outputs()[0] == 42
    assert run.error is None
    run.raise_for_status()


# ---- sync / async entry points -------------------------------------------------------------------
async def test_every_entry_point_has_aio(tmp_path: Path) -> None:
    await flyte.init.aio(project="p1", domain="d1")
    assert (configured_project(), configured_domain()) == ("p1", "d1")
    run = await flyte.run.aio(plus_one, 1)
    assert (await run.outputs.aio())[0] == 2
    await run.wait.aio()
    run = await flyte.with_runcontext(name="aio-ctx").run.aio(plus_one, x=2)
    assert run.name == "aio-ctx" and run.outputs()[0] == 3
    again = await flyte.rerun.aio("aio-ctx")
    assert again.name != "aio-ctx" and again.outputs()[0] == 3
    (tmp_path / "flyte.toml").write_text('[flyte]\nproject = "from-file"\n')
    await flyte.init_from_config.aio(str(tmp_path / "flyte.toml"))
    assert configured_project() == "from-file"


async def test_aio_does_not_block_the_callers_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    t = asyncio.create_task(ticker())
    try:
        await asyncio.gather(*(flyte.run.aio(plus_one, i) for i in range(3)))
    finally:
        t.cancel()
    assert ticks > 1


def test_signatures_are_the_reference_ones() -> None:
    init = list(inspect.signature(flyte.init).parameters)
    assert init[:8] == [
        "org",
        "project",
        "domain",
        "root_dir",
        "log_level",
        "log_format",
        "reset_root_logger",
        "user_log_level",
    ]
    assert {"endpoint", "api_key", "insecure", "auth_type", "images", "storage", "scopes"} <= set(init)
    cfg = list(inspect.signature(flyte.init_from_config).parameters)
    assert cfg[:8] == [
        "path_or_config",
        "root_dir",
        "log_level",
        "log_format",
        "user_log_level",
        "org",
        "project",
        "domain",
    ]
    rerun = list(inspect.signature(flyte.rerun).parameters)
    assert rerun == [
        "run_name",
        "action_name",
        "recover",
        "force_rerun_actions",
        "allow_missing_source_outputs",
        "inputs",
    ]
    rc = inspect.signature(flyte.with_runcontext).parameters
    assert next(iter(rc)) == "mode" and rc["mode"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in rc.items() if n != "mode")


def test_init_positional_org_project_domain_reach_the_task_context() -> None:
    flyte.init("my-org", "my-project", "development")
    assert (configured_project(), configured_domain()) == ("my-project", "development")

    run = flyte.run(action_identity)
    assert run.outputs()[0] == ["my-org", "my-project", "development"]
    run = flyte.with_runcontext(project="other", domain="prod").run(action_identity)
    assert run.outputs()[0] == ["my-org", "other", "prod"]


@env.task
async def action_identity() -> list[str | None]:
    a = flyte.ctx().action
    return [a.org, a.project, a.domain]


# ---- failures ------------------------------------------------------------------------------------
def test_failing_run_raises_the_tasks_own_error_with_the_run_and_recover_hint(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with pytest.raises(ValueError, match="no marker") as failed:
        flyte.with_runcontext(name="will-fail").run(parent_of_failing, marker=str(marker))
    err = failed.value
    # the reference SDK's view of the same error: RuntimeUserError whose code is the type's name
    assert isinstance(err, flyte.errors.RuntimeUserError) and err.code == "ValueError"
    notes = "\n".join(getattr(err, "__notes__", []))
    assert "will-fail" in notes and "flyte rerun will-fail --recover" in notes
    run = err.flyte_run  # type: ignore[attr-defined]
    assert run.name == "will-fail" and run.phase is ActionPhase.FAILED and run.done()
    with pytest.raises(ValueError):
        run.outputs()
    marker.touch()
    recovered = flyte.rerun("will-fail", recover=True)
    assert recovered.name == "will-fail" and recovered.outputs()[0] == "fixed"


def test_plain_flyte_run_raises_too(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as failed:
        flyte.run(fails_unless, marker=str(tmp_path / "absent"))
    assert failed.value.flyte_run.status == "FAILED"  # type: ignore[attr-defined]


async def test_aio_run_raises_too(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await flyte.run.aio(fails_unless, marker=str(tmp_path / "absent"))


def test_a_script_whose_run_fails_exits_non_zero_with_the_error(tmp_path: Path, flyte_home: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            """
            import flyte

            env = flyte.TaskEnvironment(name="job")

            @env.task
            async def main(x: int) -> int:
                raise KeyError(f"missing {x}")

            if __name__ == "__main__":
                flyte.init()
                flyte.with_runcontext(name="job-1").run(main, 5)
                print("not reached")
            """
        )
    )
    p = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert p.returncode == 1, p.stdout + p.stderr
    assert "not reached" not in p.stdout
    assert "KeyError: 'missing 5'" in p.stderr
    assert "flyte rerun job-1 --recover" in p.stderr


# ---- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda: flyte.init(bogus=1),
        lambda: flyte.init_from_config(None, bogus=1),
        lambda: flyte.with_runcontext(bogus=1),
        lambda: flyte.rerun("x", bogus_flag=True, recover=True),
    ],
    ids=["init", "init_from_config", "with_runcontext", "rerun"],
)
def test_unknown_keywords_are_refused_by_name(call: object) -> None:
    with pytest.raises((TypeError, flyte.errors.InvalidParameterError), match="bogus"):
        call()  # type: ignore[operator]


def test_reference_keywords_without_local_meaning_are_accepted() -> None:
    flyte.init(
        endpoint="dns:///example.com",
        api_key="k",
        insecure=True,
        auth_type="ClientSecret",
        images={"default": "ghcr.io/x/y:1"},
        image_builder="remote",
        org="o",
        project="p",
        domain="d",
        batch_size=10,
        headless=True,
        rpc_retries=1,
    )
    rc = flyte.with_runcontext(
        "local",
        service_account="sa",
        version="v1",
        copy_style="all",
        labels={"team": "ml"},
        annotations={"a": "b"},
        interruptible=True,
        queue="q",
        log_level=20,
        cache_lookup_scope="project-domain",
        notifications=None,
        debug=False,
    )
    assert rc.run(plus_one, 1).outputs()[0] == 2


def test_bad_values_name_the_field() -> None:
    with pytest.raises(flyte.errors.InvalidParameterError, match="max_action_concurrency"):
        flyte.with_runcontext(max_action_concurrency=-1)
    with pytest.raises(flyte.errors.InvalidParameterError, match="custom_context"):
        flyte.with_runcontext(custom_context={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(flyte.errors.InvalidParameterError, match="run_start_time"):
        flyte.with_runcontext(run_start_time="yesterday")
    with pytest.raises(flyte.errors.InitializationError, match="mode='remote'"):
        flyte.with_runcontext(mode="remote")
    with pytest.raises(flyte.errors.InvalidParameterError, match="storage"):
        flyte.init(storage=42)


def test_config_file_project_and_domain_are_recorded(tmp_path: Path) -> None:
    cfg = tmp_path / "flyte.toml"
    cfg.write_text('[flyte]\nproject = "flowers"\ndomain = "staging"\nendpoint = "dns:///x"\n')
    flyte.init_from_config(str(cfg), domain="override")
    assert (configured_project(), configured_domain()) == ("flowers", "override")


# ---- run context and rerun -----------------------------------------------------------------------
def test_custom_context_reaches_every_task_and_survives_recovery() -> None:
    run = flyte.with_runcontext(name="cc", custom_context={"tenant": "acme"}).run(seen_by_child)
    assert run.outputs()[0] == {"tenant": "acme"}
    again = flyte.rerun("cc", recover=True)
    assert again.outputs()[0] == {"tenant": "acme"}


def test_rerun_with_changed_inputs_and_unsupported_options() -> None:
    flyte.with_runcontext(name="base").run(plus_one, 10)
    changed = flyte.rerun("base", x=20)
    assert changed.name != "base" and changed.outputs()[0] == 21
    with pytest.raises(flyte.errors.InvalidParameterError, match="action_name"):
        flyte.rerun("base", action_name="a1")
    with pytest.raises(flyte.errors.InvalidParameterError, match="recover"):
        flyte.rerun("base", recover=True, x=3)
    with pytest.raises(flyte.errors.InvalidParameterError, match="'y'"):
        flyte.rerun("base", y=3)


def test_runcontext_rerun_adds_its_env_vars() -> None:
    flyte.with_runcontext(name="env-base", env_vars={"A": "1"}).run(reads_env)
    again = flyte.with_runcontext(env_vars={"B": "2"}).rerun("env-base")
    assert again.outputs()[0] == "1|2"


@env.task
async def reads_env() -> str:
    return f"{os.environ.get('A', '')}|{os.environ.get('B', '')}"
