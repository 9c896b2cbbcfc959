"""The real ``flyte ui`` server in a subprocess, over HTTP: pages, JSON, values, files, safety, speed."""

from __future__ import annotations

import json
import os
import pickle
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.register_assert_rewrite("ui_support")

pytest.importorskip("starlette", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")

from ui_support import (  # noqa: E402
    Recorded,
    Server,
    add_action,
    add_run,
    new_journal,
    port_closed,
    start_server,
)

pytest_plugins = ["ui_support"]  # the ui_recorded / ui_server fixtures

SCRIPT = "<script>alert('xss')</script>"


class _Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.marker,))


def _text(body: bytes) -> str:
    return body.decode("utf-8")


# ---- pages over recorded runs ----------------------------------------------------------------------
def test_runs_page_lists_runs_and_filters_by_status(ui_server: Server, ui_recorded: Recorded) -> None:
    status, headers, body = ui_server.request("/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    html = _text(body)
    for name in ui_recorded.names.values():
        assert name in html
    status, _, body = ui_server.request("/?status=FAILED")
    html = _text(body)
    assert ui_recorded.names["failed"] in html and ui_recorded.names["first"] not in html
    data = ui_server.get_json("/api/runs?task=broken")
    assert [r["name"] for r in data["runs"]] == [ui_recorded.names["failed"]]
    assert data["runs"][0]["error"]["code"] == "ValueError"


def test_every_page_sends_a_strict_csp_and_no_external_assets(
    ui_server: Server, ui_recorded: Recorded
) -> None:
    for path in ("/", f"/runs/{ui_recorded.names['first']}"):
        status, headers, body = ui_server.request(path)
        assert status == 200
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        html = _text(body)
        assert not re.search(r"""(src|href)=["'](https?:)?//""", html)  # everything comes from this server
    status, headers, _ = ui_server.request("/static/ui.js")
    assert status == 200 and "javascript" in headers["content-type"]


def test_run_page_shows_tree_groups_cache_hits_errors_and_timeline(
    ui_server: Server, ui_recorded: Recorded
) -> None:
    html = _text(ui_server.request(f"/runs/{ui_recorded.names['cached']}")[2])
    assert 'class="tgroup"' in html and "squares" in html
    assert html.count("cache hit</span>") >= 4
    assert "boom: input 7 is not acceptable" in html
    assert "2 attempts" in html
    assert html.count('<rect class="bar') == 11
    state = ui_server.get_json(f"/api/runs/{ui_recorded.names['cached']}/state")
    assert state["status"] == "SUCCEEDED" and state["live"] is False
    data = ui_server.get_json(f"/api/runs/{ui_recorded.names['cached']}")
    assert sum(a["cache_hit"] for a in data["actions"]) == 4


def test_failed_run_shows_its_error_and_traceback(ui_server: Server, ui_recorded: Recorded) -> None:
    html = _text(ui_server.request(f"/runs/{ui_recorded.names['failed']}")[2])
    assert "boom: input 1 is not acceptable" in html and "Traceback" in html
    aid = ui_recorded.action_id("failed", "ui_flows.flaky")
    html = _text(ui_server.request(f"/runs/{ui_recorded.names['failed']}/actions/{aid}")[2])
    assert html.count('class="error-box"') == 3  # the action's error and both attempts'
    assert "raise ValueError" in html


def test_values_are_escaped_linked_and_pickles_never_served(ui_server: Server, ui_recorded: Recorded) -> None:
    run = ui_recorded.names["first"]
    shout = ui_recorded.action_id("first", "ui_flows.shout")
    html = _text(ui_server.request(f"/runs/{run}/actions/{shout}")[2])
    assert SCRIPT not in html and "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html
    status, headers, body = ui_server.request(f"/runs/{run}/actions/{shout}/value/outputs")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"said": SCRIPT + "<img src=x onerror=alert(2)>"}

    big = ui_recorded.action_id("first", "ui_flows.big")
    html = _text(ui_server.request(f"/runs/{run}/actions/{big}")[2])
    assert "open the full value" in html and "stored in the object store" in html
    assert "79999" not in html  # linked, not inlined
    status, _, body = ui_server.request(f"/runs/{run}/actions/{big}/value/outputs")
    assert status == 200 and json.loads(body)[-1] == 79_999

    opaque = ui_recorded.action_id("first", "ui_flows.opaque")
    html = _text(ui_server.request(f"/runs/{run}/actions/{opaque}")[2])
    assert re.search(r"&lt;pickled value, \d+ bytes&gt;", html)
    status, _, body = ui_server.request(f"/runs/{run}/actions/{opaque}/value/outputs")
    assert status == 403 and b"never" in body

    raw = ui_recorded.action_id("first", "ui_flows.raw")
    status, headers, body = ui_server.request(f"/runs/{run}/actions/{raw}/value/outputs")
    assert status == 200 and body == bytes(range(40))
    assert (
        headers["content-type"] == "application/octet-stream"
        and "attachment" in headers["content-disposition"]
    )


def test_an_action_shows_its_logs_escaped_and_its_task_spec(ui_server: Server, ui_recorded: Recorded) -> None:
    run = ui_recorded.names["first"]
    shout = ui_recorded.action_id("first", "ui_flows.shout")
    html = _text(ui_server.request(f"/runs/{run}/actions/{shout}")[2])
    # what the task printed, stdout and stderr, kept with the action and shown as text
    assert "attempt-0.log" in html and "and a warning" in html
    assert "shouting &lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html and SCRIPT not in html
    # the raw log file is served from the run store as text
    link = re.search(r'href="([^"]*/files/[^"]*attempt-0\.log)"', html)
    assert link is not None
    status, headers, body = ui_server.request(link.group(1))
    assert status == 200 and b"and a warning" in body and headers["content-type"].startswith("text/plain")
    # the task spec: resources, env vars, task type, retries
    assert "Task spec" in html and "Resources" in html and "500m" in html and "UI_FLAG" in html
    # an action that printed nothing says so
    raw = ui_recorded.action_id("first", "ui_flows.raw")
    assert "Nothing was written to stdout or stderr." in _text(
        ui_server.request(f"/runs/{run}/actions/{raw}")[2]
    )


def test_files_from_the_run_store_are_served_as_text_only(ui_server: Server, ui_recorded: Recorded) -> None:
    run = ui_recorded.names["first"]
    aid = ui_recorded.action_id("first", "ui_flows.write_file")
    html = _text(ui_server.request(f"/runs/{run}/actions/{aid}")[2])
    m = re.search(r'href="(/runs/[^"]+/files/[^"]+note.txt)"', html)
    assert m, html
    status, headers, body = ui_server.request(m.group(1))
    assert status == 200 and body.decode().startswith("<script>")
    assert (
        headers["content-type"].startswith("text/plain") and headers["content-security-policy"] == "sandbox"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/runs/{run}/files/../../../journal.db",
        "/runs/{run}/files/%2e%2e/%2e%2e/%2e%2e/journal.db",
        "/runs/{run}/files/..%2f..%2f..%2fjournal.db",
        "/runs/{run}/files//etc/passwd",
        "/runs/{run}/files/%2fetc%2fpasswd",
    ],
)
def test_no_file_outside_the_run_store_is_served(ui_server: Server, ui_recorded: Recorded, path: str) -> None:
    status, _, body = ui_server.request(path.format(run=ui_recorded.names["first"]))
    assert status in (403, 404), (status, body[:200])
    assert b"SQLite format" not in body and b"root:" not in body


def test_other_host_headers_and_writes_are_refused(ui_server: Server, ui_recorded: Recorded) -> None:
    status, _, _ = ui_server.request("/", headers={"Host": "attacker.example"})
    assert status == 400  # DNS rebinding: only local names reach the app
    status, _, _ = ui_server.request(
        f"/runs/{ui_recorded.names['first']}", headers={"Host": f"localhost:{ui_server.port}"}
    )
    assert status == 200
    import http.client

    conn = http.client.HTTPConnection(ui_server.host, ui_server.port, timeout=10)
    conn.request("POST", "/", body=b"x")
    assert conn.getresponse().status == 405
    conn.close()


def test_unknown_runs_and_actions_are_404(ui_server: Server, ui_recorded: Recorded) -> None:
    assert ui_server.request("/runs/nope")[0] == 404
    assert ui_server.request(f"/runs/{ui_recorded.names['first']}/actions/nope")[0] == 404
    assert ui_server.request(f"/runs/{ui_recorded.names['first']}/actions/nope/value/outputs")[0] == 404
    assert ui_server.request("/api/runs/nope/state")[0] == 404
    assert ui_server.request("/nowhere")[0] == 404


# ---- a seeded journal: 10,000 runs, a pickle bomb, a symlink out of the store ------------------------
@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    home = tmp_path_factory.mktemp("ui-seeded")
    store = home / "data" / "runs" / "r-files"
    store.mkdir(parents=True)
    (store / "ok.txt").write_text("inside")
    (home / "secret.txt").write_text("outside the store")
    (store / "escape").symlink_to(home)
    conn = new_journal(home / "journal.db")
    conn.execute("BEGIN")
    for i in range(10_000):
        add_run(
            conn,
            f"run-{i:05d}",
            task=f"pkg.task{i % 7}",
            status=("SUCCEEDED", "FAILED", "RUNNING")[i % 3],
            t0=1_700_000_000.0 + i,
        )
    add_run(conn, "r-files", store=f"file://{store}")
    marker = home / "unpickled"
    add_action(
        conn,
        "r-files",
        "a1",
        None,
        0,
        outputs=b"P" + pickle.dumps(_Boom(str(marker))),
        inputs=b"P" + pickle.dumps(_Boom(str(marker))),
    )
    conn.execute("COMMIT")
    conn.close()
    s = start_server(home / "journal.db", home)
    try:
        yield s, home
    finally:
        s.stop()
        assert port_closed(s.host, s.port)


def test_ten_thousand_runs_list_fast(seeded: tuple[Server, Path]) -> None:
    s, _ = seeded
    s.request("/api/runs")  # warm up the worker thread
    timings: dict[str, float] = {}
    for path in (
        "/api/runs?limit=50",
        "/",
        "/?status=FAILED",
        "/?task=task3",
        "/?before=200",
        "/api/runs?status=RUNNING&task=task5&before=9000",
        "/api/state",
    ):
        t = time.perf_counter()
        status, _, body = s.request(path)
        timings[path] = time.perf_counter() - t
        assert status == 200, body[:200]
    assert max(timings.values()) < 0.5, timings
    data = s.get_json("/api/runs?limit=50")
    assert data["total"] == 10_001 and len(data["runs"]) == 50 and data["has_older"]
    older = s.get_json(f"/api/runs?limit=50&before={data['oldest']}")
    assert older["runs"][0]["name"] == "run-09950"
    html = _text(s.request("/")[2])
    assert "10,001 runs" in html and 'rel="next"' in html


def test_seeded_pickles_are_never_loaded(seeded: tuple[Server, Path]) -> None:
    s, home = seeded
    status, _, body = s.request("/runs/r-files/actions/a1")
    assert status == 200 and b"&lt;pickled value" in body
    assert s.request("/runs/r-files/actions/a1/value/inputs")[0] == 403
    assert not (home / "unpickled").exists()


def test_symlinks_out_of_the_store_are_refused(seeded: tuple[Server, Path]) -> None:
    s, _ = seeded
    status, _, body = s.request("/runs/r-files/files/ok.txt")
    assert status == 200 and body == b"inside"
    status, _, body = s.request("/runs/r-files/files/escape/secret.txt")
    assert status == 403 and b"outside the store" not in body
    status, _, body = s.request("/runs/r-files/files/")
    assert status == 200 and b"ok.txt" in body


def test_ui_with_no_journal_yet_says_so_and_creates_nothing(tmp_path: Path) -> None:
    journal = tmp_path / "empty-home" / "journal.db"
    journal.parent.mkdir()
    s = start_server(journal, tmp_path)
    try:
        status, _, body = s.request("/")
        assert status == 200 and b"No runs yet" in body
        assert s.get_json("/api/runs")["runs"] == []
    finally:
        s.stop()
    assert not journal.exists()
    assert port_closed(s.host, s.port)


def test_names_are_quoted_in_links(tmp_path: Path) -> None:
    conn = new_journal(tmp_path / "journal.db")
    add_run(conn, "a b&c?d")
    conn.close()
    s = start_server(tmp_path / "journal.db", tmp_path)
    try:
        html = _text(s.request("/")[2])
        assert f'href="/runs/{quote("a b&c?d", safe="")}"' in html
        assert s.request(f"/runs/{quote('a b&c?d', safe='')}")[0] == 200
    finally:
        s.stop()
