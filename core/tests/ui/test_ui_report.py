"""``flyte ui`` shows an action's ``flyte.report`` in a sandboxed frame served with a restrictive CSP.

The runs are real (``flyte.run`` in this test's FLYTE_HOME); the server is the real ``flyte ui`` in a
subprocess. The browser part runs when Chromium and playwright are installed (CI installs them).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("ui_support")

pytest.importorskip("starlette", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")

import flyte  # noqa: E402
import flyte.report  # noqa: E402
from flyte.ui._data import JournalReader  # noqa: E402
from ui_support import Server, artifacts_dir, start_server  # noqa: E402

env = flyte.TaskEnvironment(name="ui_report")
TAB = "<i>Chart</i>"
ESCAPE_TRY = (
    "<script>try{parent.document.title='reached';document.body.dataset.parent='reached'}"
    "catch(e){document.body.dataset.parent='blocked'}</script>"
)


def _chart_svg() -> str:
    """A chart as users make them: matplotlib's SVG when it is installed, else a hand-written one."""
    try:
        import io

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        bars = "".join(
            f'<rect x="{20 + i * 50}" y="{200 - h}" width="40" height="{h}" fill="#7b3fe4"/>'
            for i, h in enumerate((40, 120, 80, 160))
        )
        return f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="240" height="210">{bars}</svg>'
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(["a", "b", "c", "d"], [1, 3, 2, 4], color="#7b3fe4")
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return '<div id="chart">' + svg[svg.index("<svg") :] + "</div>"


@env.task(report=True)
async def plot(n: int) -> int:
    await flyte.report.log.aio(f"<h2 id='headline'>Loss after {n} steps</h2>{ESCAPE_TRY}")
    flyte.report.get_tab(TAB).log(_chart_svg())
    return n


@env.task
async def plain(n: int) -> int:
    return n


@pytest.fixture
def recorded(flyte_home: Path) -> tuple[str, str, str]:
    """(run, action with a report, action without one)."""
    run = flyte.run(plot, 3)
    other = flyte.run(plain, 1)
    conn = sqlite3.connect(str(flyte_home / "journal.db"))
    try:
        ((aid,),) = conn.execute("SELECT action_id FROM actions WHERE run=?", (run.name,)).fetchall()
        ((plain_aid,),) = conn.execute("SELECT action_id FROM actions WHERE run=?", (other.name,)).fetchall()
    finally:
        conn.close()
    return run.name, aid, f"{other.name}/actions/{plain_aid}"


@pytest.fixture
def server(flyte_home: Path, tmp_path: Path, recorded: Any) -> Iterator[Server]:
    s = start_server(flyte_home / "journal.db", tmp_path)
    try:
        yield s
    finally:
        s.stop()


def test_action_data_lists_the_attempts_with_a_report(
    flyte_home: Path, recorded: tuple[str, str, str]
) -> None:
    run_name, aid, _ = recorded
    reader = JournalReader(str(flyte_home / "journal.db"))
    run = reader.get_run(run_name)
    assert run is not None
    detail = reader.action_detail(run, aid)
    assert detail is not None and detail.reports == [0]


def test_the_action_page_frames_the_report_in_a_sandbox(
    server: Server, recorded: tuple[str, str, str]
) -> None:
    run_name, aid, plain_page = recorded
    status, headers, body = server.request(f"/runs/{run_name}/actions/{aid}")
    page = body.decode()
    assert status == 200
    assert "frame-src 'self'" in headers["content-security-policy"]
    src = f"/runs/{run_name}/actions/{aid}/report/0"
    assert '<iframe class="report-frame" sandbox="allow-scripts"' in page and f'src="{src}"' in page
    assert "allow-same-origin" not in page
    assert "<i>Chart</i>" not in page  # the page never inlines the report

    status, headers, body = server.request(src)
    assert status == 200 and headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    for part in (
        "sandbox allow-scripts",
        "connect-src 'none'",
        "frame-ancestors 'self'",
        "default-src 'none'",
    ):
        assert part in csp
    assert "allow-same-origin" not in csp
    assert headers["x-frame-options"] == "SAMEORIGIN" and headers["x-content-type-options"] == "nosniff"
    doc = body.decode()
    assert "<h2 id='headline'>Loss after 3 steps</h2>" in doc and 'id="chart"' in doc
    assert "&lt;i&gt;Chart&lt;/i&gt;" in doc and "<i>Chart</i>" not in doc

    assert server.request(f"/runs/{run_name}/actions/{aid}/report/1")[0] == 404
    assert server.request(f"/runs/{run_name}/actions/..%2F..%2Fx/report/0")[0] == 404
    assert server.request(f"/runs/nope/actions/{aid}/report/0")[0] == 404
    status, _, body = server.request(f"/runs/{plain_page}")
    assert status == 200 and b"report-frame" not in body


CHROMIUM = os.environ.get("FLYTE_UI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")
def test_browser_shows_the_report_and_keeps_it_away_from_the_page(
    server: Server, recorded: tuple[str, str, str]
) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the browser test drives Chromium with playwright"
    )
    run_name, aid, _ = recorded
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
            page.set_default_timeout(10_000)
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"{server.url}/runs/{run_name}/actions/{aid}")
            title = page.title()
            frame = page.frame_locator("iframe.report-frame")
            assert frame.locator("#headline").inner_text() == "Loss after 3 steps"
            assert frame.locator("body").get_attribute("data-parent") == "blocked"
            assert page.title() == title  # the report's script could not reach the page
            assert not frame.locator("#chart").is_visible()
            frame.get_by_text("<i>Chart</i>").click()  # the tab's name, shown as text
            assert frame.locator("#chart").is_visible()
            assert not frame.locator("#headline").is_visible()
            page.locator("#reports").scroll_into_view_if_needed()
            path = artifacts_dir() / "action-report.png"
            page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 5_000
            assert dialogs == []
        finally:
            browser.close()
