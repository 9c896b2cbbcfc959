"""End to end: the real ``flyte ui`` server driven by headless Chromium (Debian's ``chromium``).

Runs come from real ``flyte.run`` workflows (``ui_flows.py``). Screenshots go to
``$FLYTE_UI_ARTIFACTS`` (default ``core/tests/ui/artifacts/``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("ui_support")

pytest.importorskip("starlette", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")
pytest.importorskip(
    "playwright.sync_api", reason="the browser tests drive Chromium with the playwright package"
)

from ui_support import (  # noqa: E402
    HERE,
    Recorded,
    Server,
    artifacts_dir,
)

pytest_plugins = ["ui_support"]  # the ui_recorded / ui_server fixtures

CHROMIUM = os.environ.get("FLYTE_UI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCRIPT = "<script>alert('xss')</script><img src=x onerror=alert(2)>"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
)


@dataclass
class Tab:
    """A page plus what it reported: JavaScript dialogs, console errors, uncaught exceptions."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    t = Tab(page)

    def on_dialog(d: Any) -> None:
        t.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: t.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: t.errors.append(str(e)))
    try:
        yield t
    finally:
        context.close()


def _shot(page: Any, name: str) -> Path:
    path: Path = artifacts_dir() / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000
    return path


def test_open_a_run_expand_the_tree_and_see_statuses_cache_hits_errors(
    tab: Tab, ui_server: Server, ui_recorded: Recorded
) -> None:
    from playwright.sync_api import expect  # waits for the page to catch up (a loaded machine is slow)

    page = tab.page
    page.goto(ui_server.url + "/")
    page.get_by_role("link", name=ui_recorded.names["cached"]).click()
    page.wait_for_url(f"**/runs/{ui_recorded.names['cached']}")
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")

    group = page.locator("details.tgroup", has_text="squares")
    squares = group.locator("a.task", has_text="ui_flows.square")
    assert group.get_attribute("open") is None  # groups start folded
    expect(squares.first).to_be_hidden()
    group.locator("summary").first.click()
    expect(squares).to_have_count(4)
    expect(squares.first).to_be_visible()
    expect(group.locator(".chip.cache", has_text="cache hit")).to_have_count(5)  # 4 rows + the summary
    expect(group.locator(".chip.cache").first).to_be_visible()

    flaky = page.locator(".leaf", has_text="ui_flows.flaky")
    expect(flaky.locator(".badge")).to_have_text("FAILED")
    expect(flaky.locator(".chip.attempts")).to_have_text("2 attempts")
    expect(page.get_by_text("ValueError: boom: input 7 is not acceptable")).to_be_visible()

    page.get_by_role("button", name="Collapse all").click()
    expect(squares.first).to_be_hidden()
    page.get_by_role("button", name="Expand all").click()
    expect(squares.first).to_be_visible()
    assert page.eval_on_selector_all("#tree details", "els => els.length > 0 && els.every(e => e.open)")

    expect(page.locator(".gantt rect.bar")).to_have_count(11)
    expect(page.locator(".gantt rect.bar.cached")).to_have_count(4)
    _shot(page, "run-tree.png")
    assert tab.errors == [] and tab.dialogs == []


def test_runs_list_filters_by_status(tab: Tab, ui_server: Server, ui_recorded: Recorded) -> None:
    page = tab.page
    page.goto(ui_server.url + "/")
    page.select_option("select[name=status]", "FAILED")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**status=FAILED**")
    rows = page.locator("tr.run-row")
    assert rows.count() == 1 and ui_recorded.names["failed"] in rows.first.inner_text()
    _shot(page, "runs-failed.png")


def test_failed_action_shows_error_traceback_and_attempts(
    tab: Tab, ui_server: Server, ui_recorded: Recorded
) -> None:
    page = tab.page
    aid = ui_recorded.action_id("failed", "ui_flows.flaky")
    page.goto(f"{ui_server.url}/runs/{ui_recorded.names['failed']}/actions/{aid}")
    assert page.locator("#action-status").inner_text() == "FAILED"
    box = page.locator("section.runhead .error-box")
    assert box.locator(".err-code").inner_text() == "ValueError"
    assert "boom: input 1 is not acceptable" in box.locator(".err-message").inner_text()
    tb = box.locator("details.traceback pre")
    assert not tb.is_visible()
    box.locator("details.traceback summary").click()
    assert tb.is_visible() and "Traceback (most recent call last)" in tb.inner_text()
    assert page.locator("table.attempts tbody tr").count() == 2
    _shot(page, "action-failed.png")


def test_script_in_a_task_output_is_shown_as_text(tab: Tab, ui_server: Server, ui_recorded: Recorded) -> None:
    page = tab.page
    run = ui_recorded.names["first"]
    aid = ui_recorded.action_id("first", "ui_flows.shout")
    page.goto(f"{ui_server.url}/runs/{run}/actions/{aid}")
    page.wait_for_timeout(300)
    out = page.locator("section", has_text="Outputs").locator("pre.json")
    assert SCRIPT in out.inner_text()
    assert page.get_by_text(SCRIPT, exact=False).first.is_visible()
    assert page.locator("script").count() == 1  # only the page's own ui.js
    assert page.locator("img").count() == 0
    assert page.evaluate("document.querySelector('script').getAttribute('src')") == "/static/ui.js"
    # what the task printed is shown as text in its log, and its task spec beside it
    log = page.locator("pre.logtext").first
    assert "shouting " + SCRIPT in log.inner_text() and "and a warning" in log.inner_text()
    spec = page.locator("section", has_text="Task spec")
    assert "500m" in spec.locator("dl.spec").inner_text()
    spec.get_by_text("Whole spec").click()
    assert '"UI_FLAG": "on"' in spec.locator("pre.spec-json").inner_text()
    _shot(page, "escaping.png")

    # the same text as a file in the run store opens as plain text
    wf = ui_recorded.action_id("first", "ui_flows.write_file")
    page.goto(f"{ui_server.url}/runs/{run}/actions/{wf}")
    page.get_by_role("link", name="note.txt").click()
    page.wait_for_load_state()
    assert SCRIPT in page.locator("body").inner_text()
    assert page.locator("img").count() == 0
    assert tab.dialogs == []


def test_pickles_and_large_values(tab: Tab, ui_server: Server, ui_recorded: Recorded) -> None:
    page = tab.page
    run = ui_recorded.names["first"]
    page.goto(f"{ui_server.url}/runs/{run}/actions/{ui_recorded.action_id('first', 'ui_flows.opaque')}")
    summary = page.locator("section", has_text="Outputs").locator(".vsum").inner_text()
    assert summary.startswith("<pickled value, ") and summary.endswith(" bytes>")
    page.goto(f"{ui_server.url}/runs/{run}/actions/{ui_recorded.action_id('first', 'ui_flows.big')}")
    link = page.get_by_role("link", name="open the full value (457.9 KiB)")
    assert link.is_visible()
    resp = page.request.get(ui_server.url + link.get_attribute("href"))
    assert resp.ok and resp.json()[-1] == 79_999


def test_live_updates_while_a_run_is_in_progress(
    tab: Tab, ui_server: Server, ui_recorded: Recorded, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    name = f"live-{os.getpid()}"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "ui_flows.py"), "gated", str(ui_recorded.home), str(gate), name],
        cwd=str(HERE),
        env=dict(os.environ, FLYTE_HOME=str(ui_recorded.home)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_running(ui_recorded.journal, name)
        from playwright.sync_api import expect

        page = tab.page
        page.goto(f"{ui_server.url}/runs/{name}")
        assert page.locator("#run-status").inner_text() == "RUNNING"
        assert page.locator("#live-indicator").is_visible()
        page.evaluate("window.__sameDocument = true")
        gate.touch()
        # (expect polls from Playwright's own script: the page's CSP forbids eval of a predicate)
        expect(page.locator("#run-status")).to_have_text("SUCCEEDED", timeout=20_000)
        assert page.evaluate("window.__sameDocument === true")  # updated in place, not reloaded
        assert page.locator("#tree a.task", has_text="ui_flows.square").count() == 2
        assert not page.locator("#live-indicator").is_visible()
        _shot(page, "live-finished.png")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert tab.errors == []


def _wait_for_running(journal: Path, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10)
        try:
            row = conn.execute(
                "SELECT r.status, (SELECT COUNT(*) FROM actions a"
                " WHERE a.run = r.name AND a.status = 'SUCCEEDED') FROM runs r WHERE r.name = ?",
                (name,),
            ).fetchone()
        finally:
            conn.close()
        if row is not None and row[0] == "RUNNING" and row[1] >= 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"run {name} did not start")
