"""``flyte.report`` as the anchor's users write it: HTML per tab, kept per attempt in the run's store."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import flyte
import flyte.errors
import flyte.report
import pytest
from click.testing import CliRunner
from conftest import journal_rows
from flyte.report import _api

env = flyte.TaskEnvironment(name="reporting")

TAB = "<b>Data</b> & more"


@env.task(report=True)
async def summarize(values: list[int]) -> int:
    total = sum(values)
    await flyte.report.log.aio(f"<h2>Total</h2><p id='total'>{total}</p>")
    flyte.report.get_tab(TAB).log(f"<p>{len(values)} values</p>")
    await flyte.report.flush.aio()
    flyte.report.get_tab(TAB).log("<p>after the flush</p>")  # kept by the end-of-attempt write
    return total


@env.task(report=True)
def summarize_sync(n: int) -> int:
    flyte.report.log("<p>first</p>")
    flyte.report.replace(f"<p>only {n}</p>")
    assert not flyte.ctx() or flyte.ctx().report is flyte.report.current_report()
    steps = flyte.report.Timeline("Steps")
    steps.heading("<plan>")
    steps.row(label="load", meta="2 ms", detail=flyte.report.abbreviate("<rows>"), error="<bad>")
    return n


@env.task(report=True, retries=1)
def fails(n: int) -> int:
    flyte.report.log(f"<p>attempt {flyte.ctx().attempt} got {n}</p>")
    raise ValueError(f"no good: {n}")


@env.task
def undeclared(flush: bool) -> int:
    flyte.report.log("<p>undeclared</p>", do_flush=flush)
    return 1


@env.task(report=True)
async def nothing_logged() -> int:
    return 0


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    _api._warned.clear()


def _report_files(home: Path, run: flyte.Run) -> list[Path]:
    return sorted((home / "data" / "runs" / run.name).glob("*/reports/attempt-*.html"))


def _only_action(home: Path, run: flyte.Run) -> str:
    files = _report_files(home, run)
    assert len(files) == 1, files
    return files[0].read_text()


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_a_report_is_kept_with_its_tabs_and_escaped_tab_names(flyte_home: Path, isolation: str) -> None:
    run = flyte.with_runcontext(isolation=isolation).run(summarize, values=[4, 5, 6])
    assert run.outputs()[0] == 15
    modes = journal_rows(flyte_home, "SELECT mode FROM actions WHERE run=?", (run.name,))
    assert [r["mode"] for r in modes] == [isolation]
    files = _report_files(flyte_home, run)
    assert [f.relative_to(files[0].parents[2]).as_posix() for f in files] == [
        f"{files[0].parents[1].name}/reports/attempt-0.html"
    ]
    doc = files[0].read_text()
    assert doc.startswith("<!doctype html>")
    assert "<p id='total'>15</p>" in doc  # the user's HTML goes in as written
    assert "<p>3 values</p>" in doc and "<p>after the flush</p>" in doc
    assert "&lt;b&gt;Data&lt;/b&gt; &amp; more" in doc  # tab names are escaped
    assert "<b>Data</b>" not in doc


def test_sync_task_and_replace(flyte_home: Path) -> None:
    run = flyte.with_runcontext(isolation="process").run(summarize_sync, 7)
    assert run.outputs()[0] == 7
    doc = _only_action(flyte_home, run)
    assert "<p>only 7</p>" in doc and "<p>first</p>" not in doc
    assert "<h3>&lt;plan&gt;</h3>" in doc and "&lt;rows&gt;" in doc and "&lt;bad&gt;" in doc
    assert ">Steps</label>" in doc


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_a_failing_task_keeps_what_each_attempt_logged(flyte_home: Path, isolation: str) -> None:
    run = flyte.with_runcontext(isolation=isolation).start(fails, 3)
    assert run.status == "FAILED"
    modes = journal_rows(flyte_home, "SELECT mode FROM actions WHERE run=?", (run.name,))
    assert [r["mode"] for r in modes] == [isolation]
    files = _report_files(flyte_home, run)
    assert [f.name for f in files] == ["attempt-0.html", "attempt-1.html"]
    assert "<p>attempt 0 got 3</p>" in files[0].read_text()
    second = files[1].read_text()
    assert "<p>attempt 1 got 3</p>" in second and "attempt 0" not in second  # one report per attempt


def test_a_task_that_logged_nothing_keeps_no_report(flyte_home: Path) -> None:
    run = flyte.run(nothing_logged)
    assert run.outputs()[0] == 0 and _report_files(flyte_home, run) == []


def test_outside_a_task_calls_do_nothing_and_warn_once(flyte_home: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert flyte.report.log("<p>x</p>", do_flush=True) is None
        flyte.report.get_tab("t").log("<p>y</p>")
        flyte.report.replace("<p>z</p>")
        assert flyte.report.flush() is None
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "outside a task" in messages[0]
    assert caught[0].filename == __file__  # points at the caller
    assert not (flyte_home / "data").exists() or not list((flyte_home / "data").rglob("*.html"))
    # a plain call of a task (a unit test of it) is outside a run too
    assert summarize_sync(2) == 2


def test_a_task_without_report_true_writes_only_when_flushed(flyte_home: Path) -> None:
    with pytest.warns(UserWarning, match=r"not declared report=True"):
        run = flyte.run(undeclared, False)
    assert _report_files(flyte_home, run) == []
    run = flyte.run(undeclared, True)  # an explicit flush writes it, as the reference SDK does
    assert "<p>undeclared</p>" in _only_action(flyte_home, run)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(flyte.errors.InvalidParameterError, match="report"):

        @env.task(report="yes")  # type: ignore[call-overload]
        def t() -> None: ...

    tab = flyte.report.Report("r").get_tab("t")
    with pytest.raises(TypeError, match="content"):
        tab.log(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="create_if_missing"):
        flyte.report.Report("r").get_tab("missing", create_if_missing=False)


def test_report_object_and_widgets() -> None:
    rep = flyte.report.Report("r")
    assert not rep.has_content() and list(rep.tabs) == ["main"]
    tl_html = flyte.report.abbreviate("<x>" * 200, limit=10)
    assert tl_html.startswith("<details>") and "<x>" not in tl_html
    assert flyte.report.duration_ms("2024-01-01T00:00:00Z", "2024-01-01T00:00:01.5Z") == "1500 ms"
    assert flyte.report.duration_ms(None, "x") == ""
    names = "Report Timeline abbreviate current_report duration_ms flush get_tab log replace"
    assert set(flyte.report.__all__) >= set(names.split())


def test_runs_show_prints_the_report_path(flyte_home: Path) -> None:
    from flyte.cli.main import cli

    run = flyte.run(summarize, values=[1, 2])
    path = _report_files(flyte_home, run)[0]
    out = CliRunner(env={"COLUMNS": "400"}).invoke(cli, ["runs", "show", run.name], catch_exceptions=False)
    assert out.exit_code == 0 and str(path) in out.output and "attempt 0" in out.output
    shown = json.loads(CliRunner().invoke(cli, ["runs", "show", run.name, "--json"]).output)
    (action,) = shown["actions"]
    assert [r["attempt"] for r in action["reports"]] == [0] and action["reports"][0]["uri"].endswith(
        f"{action['action_id']}/reports/attempt-0.html"
    )


def test_import_flyte_does_not_load_report() -> None:
    import subprocess
    import sys

    code = (
        "import sys, flyte; print('flyte.report' in sys.modules);"
        " import flyte.report; print('asyncio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr
