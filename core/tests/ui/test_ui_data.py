"""The UI's data layer: read-only queries, paging, the action tree, value rendering, escaping."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("ui_support")

pytest.importorskip("jinja2", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")

from flyte.ui._data import (  # noqa: E402
    ActionRow,
    JournalMissingError,
    JournalReader,
    OutsideStoreError,
    build_tree,
    gantt,
    parse_error,
    read_value_bytes,
    render_value,
    resolve_in_store,
    store_relpath,
)
from ui_support import add_action, add_run, error_json, new_journal  # noqa: E402


class _Boom:
    """Unpickling this creates a directory: the UI must never do it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.marker,))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    d = tmp_path / "data" / "runs" / "r1"
    d.mkdir(parents=True)
    return d


def _prefix(store: Path) -> str:
    return "file://" + str(store)


# ---- values ----------------------------------------------------------------------------------------
def test_json_is_pretty_printed_and_inputs_become_fields() -> None:
    v = render_value(b'J{"a":1,"b":[1,2]}', as_fields=True)
    assert v.kind == "json" and not v.linked
    assert v.fields == [("a", "1"), ("b", "[\n  1,\n  2\n]")]
    out = render_value(b'J{"a":1}')
    assert out.text == '{\n  "a": 1\n}' and out.fields is None


def test_pickles_are_described_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    blob = b"P" + pickle.dumps(_Boom(str(marker)))
    v = render_value(blob)
    assert v.kind == "pickle"
    assert v.summary == f"<pickled value, {len(blob) - 1} bytes>"
    assert v.text is None and v.preview is None
    assert not marker.exists()


def test_raw_bytes_show_a_hex_preview_and_a_link() -> None:
    v = render_value(b"B" + bytes(range(40)))
    assert v.kind == "bytes" and v.linked
    assert v.preview is not None and v.preview.startswith("00 01 02") and v.preview.endswith("...")


def test_large_json_is_linked_with_a_preview_not_inlined() -> None:
    body = json.dumps(list(range(30_000))).encode()
    v = render_value(b"J" + body, limit=64 * 1024)
    assert v.linked and v.text is None and v.fields is None
    assert v.preview is not None and len(v.preview) < 1000


def test_reference_inside_the_store_is_followed(store: Path) -> None:
    (store / "a1").mkdir()
    target = store / "a1" / "outputs"
    target.write_bytes(b"J" + json.dumps(list(range(100_000))).encode())
    v = render_value(b"R" + f"file://{target}".encode(), _prefix(store))
    assert v.kind == "json" and v.linked and v.location == f"file://{target}"
    assert v.preview is not None and v.preview.startswith("[0, 1, 2")
    data = read_value_bytes(b"R" + f"file://{target}".encode(), _prefix(store))
    assert data[:1] == b"J" and json.loads(data[1:])[-1] == 99_999


def test_reference_outside_the_store_is_refused(store: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"Jtop secret")
    ref = b"R" + f"file://{secret}".encode()
    with pytest.raises(OutsideStoreError):
        read_value_bytes(ref, _prefix(store))
    v = render_value(ref, _prefix(store))
    assert v.kind == "ref" and v.text is None and v.preview is None
    dotted = b"R" + f"file://{store}/../../../secret.txt".encode()
    with pytest.raises(OutsideStoreError):
        read_value_bytes(dotted, _prefix(store))


def test_files_in_values_link_only_when_inside_the_store(store: Path) -> None:
    (store / "offloaded").mkdir()
    inside = {"format": "", "hash": "h", "name": "doc.txt", "path": f"file://{store}/offloaded/doc.txt"}
    outside = {"format": "", "hash": "h", "name": "x", "path": "file:///etc/passwd"}
    v = render_value(b"J" + json.dumps([inside, outside]).encode(), _prefix(store))
    assert [(f.name, f.rel) for f in v.files] == [("doc.txt", "offloaded/doc.txt"), ("x", None)]


@pytest.mark.parametrize(
    "rel", ["../secret", "../../journal.db", "/etc/passwd", "a/../../secret", "link/secret", "x\x00y"]
)
def test_resolve_in_store_rejects_traversal(store: Path, tmp_path: Path, rel: str) -> None:
    (tmp_path / "secret").write_text("no")
    (store / "link").symlink_to(tmp_path)
    with pytest.raises(OutsideStoreError):
        resolve_in_store(_prefix(store), rel)


def test_resolve_in_store_allows_files_inside(store: Path) -> None:
    (store / "a").mkdir()
    (store / "a" / "f.txt").write_text("ok")
    assert resolve_in_store(_prefix(store), "a/f.txt") == str((store / "a" / "f.txt").resolve())
    assert resolve_in_store(_prefix(store), "a/./f.txt").endswith("f.txt")
    assert store_relpath(_prefix(store), f"file://{store}/a/f.txt") == "a/f.txt"
    assert store_relpath(_prefix(store), "s3://bucket/a/f.txt") is None
    with pytest.raises(OutsideStoreError):
        resolve_in_store("s3://bucket/runs/r1", "a/f.txt")


def test_errors_parse_json_records_and_free_text() -> None:
    e = parse_error(error_json("ValueError", "bad\nsecond line", "Traceback ..."))
    assert e is not None and (e.code, e.first_line, e.traceback) == ("ValueError", "bad", "Traceback ...")
    free = parse_error("plain text")
    assert free is not None and free.message == "plain text"
    assert parse_error(None) is None


# ---- queries ---------------------------------------------------------------------------------------
def test_reader_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    conn = new_journal(path)
    add_run(conn, "r1")
    conn.close()
    reader = JournalReader(str(path))
    with reader.connect() as c, pytest.raises(sqlite3.OperationalError):
        c.conn.execute("DELETE FROM runs")  # the view's connection is opened read-only
    assert reader.get_run("r1") is not None


def test_missing_journal_is_reported_not_created(tmp_path: Path) -> None:
    reader = JournalReader(str(tmp_path / "nope" / "journal.db"))
    with pytest.raises(JournalMissingError):
        reader.list_runs()
    assert not (tmp_path / "nope").exists()


def test_runs_are_listed_newest_first_filtered_and_paged(tmp_path: Path) -> None:
    conn = new_journal(tmp_path / "journal.db")
    for i in range(25):
        add_run(
            conn,
            f"r{i:02d}",
            task="etl.main" if i % 2 else "ml.train",
            status="FAILED" if i % 5 == 0 else "SUCCEEDED",
        )
    conn.close()
    reader = JournalReader(str(tmp_path / "journal.db"))
    page = reader.list_runs(limit=10)
    assert [r.name for r in page.runs][:3] == ["r24", "r23", "r22"]
    assert page.total == 25 and page.has_older and not page.has_newer
    older = reader.list_runs(limit=10, before=page.oldest_rowid)
    assert older.runs[0].name == "r14" and older.has_newer and older.has_older
    back = reader.list_runs(limit=10, after=older.newest_rowid)
    assert [r.name for r in back.runs] == [r.name for r in page.runs]
    failed = reader.list_runs(status="failed")
    assert [r.name for r in failed.runs] == ["r20", "r15", "r10", "r05", "r00"] and failed.total == 5
    etl = reader.list_runs(task="etl", limit=5)
    assert etl.total == 12 and all(r.task_name == "etl.main" for r in etl.runs)
    assert reader.task_names() == ["etl.main", "ml.train"]


def test_ten_thousand_runs_list_fast_with_index_backed_paging(tmp_path: Path) -> None:
    conn = new_journal(tmp_path / "journal.db")
    conn.execute("BEGIN")
    for i in range(10_000):
        add_run(
            conn,
            f"run-{i:05d}",
            task=f"pkg.task{i % 7}",
            status=("SUCCEEDED", "FAILED", "RUNNING")[i % 3],
            t0=1_700_000_000.0 + i,
        )
    conn.execute("COMMIT")
    plan = " ".join(
        str(r[-1])
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM runs WHERE rowid < ? ORDER BY rowid DESC LIMIT 50", (5000,)
        )
    )
    conn.close()
    assert "INTEGER PRIMARY KEY" in plan  # the cursor is the rowid: a B-tree seek, not a sort
    reader = JournalReader(str(tmp_path / "journal.db"))
    timings = {}
    for label, kwargs in {
        "first": {},
        "deep": {"before": 120},
        "status": {"status": "FAILED"},
        "task": {"task": "task3"},
        "both": {"status": "RUNNING", "task": "task5", "before": 9000},
    }.items():
        t = time.perf_counter()
        page = reader.list_runs(limit=50, **kwargs)  # type: ignore[arg-type]
        timings[label] = time.perf_counter() - t
        assert page.runs
    assert max(timings.values()) < 0.25, timings
    assert reader.list_runs(before=120).runs[0].name == "run-00118"


def _tree_journal(tmp_path: Path) -> JournalReader:
    conn = new_journal(tmp_path / "journal.db")
    add_run(conn, "r1", store=f"file://{tmp_path}/data/runs/r1")
    add_action(conn, "r1", "root", None, 0, task="demo.main", start=100.0, end=110.0)
    for i in range(3):
        add_action(
            conn,
            "r1",
            f"g{i}",
            "root",
            i,
            task="demo.square",
            group="squares",
            start=100.0 + i,
            end=101.0 + i,
            cache_hit=int(i == 0),
        )
    add_action(
        conn, "r1", "t0", "g1", 0, task="demo.seed", kind="trace", group="squares", start=101.0, end=101.5
    )
    add_action(
        conn,
        "r1",
        "f",
        "root",
        3,
        task="demo.flaky",
        status="FAILED",
        start=105.0,
        end=106.0,
        attempts=2,
        error=error_json("ValueError", "boom <b>"),
    )
    conn.close()
    return JournalReader(str(tmp_path / "journal.db"))


def test_tree_nests_by_position_and_folds_groups(tmp_path: Path) -> None:
    reader = _tree_journal(tmp_path)
    actions, total = reader.run_actions("r1")
    assert total == 6
    roots = build_tree(actions)
    assert [r.action.action_id for r in roots] == ["root"]
    items = roots[0].items
    assert [getattr(i, "name", None) or i.action.action_id for i in items] == ["squares", "f"]  # type: ignore[union-attr]
    group = items[0]
    assert group.is_group and [n.action.action_id for n in group.items] == ["g0", "g1", "g2"]  # type: ignore[union-attr]
    assert group.counts == {"SUCCEEDED": 3} and group.cache_hits == 1  # type: ignore[union-attr]
    # the trace inherits its parent's group: it is not folded again under g1
    g1 = group.items[1]  # type: ignore[union-attr]
    assert [n.action.action_id for n in g1.items] == ["t0"]  # type: ignore[union-attr]


def test_gantt_bars_are_in_tree_order_within_the_span(tmp_path: Path) -> None:
    reader = _tree_journal(tmp_path)
    run = reader.get_run("r1")
    assert run is not None
    actions, _ = reader.run_actions("r1")
    chart = gantt(run, build_tree(actions), now=200.0)
    assert [r.action.action_id for r in chart.rows] == ["root", "g0", "g1", "t0", "g2", "f"]
    for r in chart.rows:
        assert 0 <= r.x <= 100 and 0 < r.w <= 100 and r.x + r.w <= 100.001
    assert chart.ticks[0] == (0.0, "0") and chart.ticks[-1][0] <= 100


def test_action_detail_has_attempts_values_and_children(tmp_path: Path) -> None:
    reader = _tree_journal(tmp_path)
    run = reader.get_run("r1")
    assert run is not None
    d = reader.action_detail(run, "root")
    assert d is not None and d.child_count == 4 and d.attempts[-1].recorded is False
    flaky = reader.action_detail(run, "f")
    assert flaky is not None and flaky.action.error is not None and flaky.action.error.message == "boom <b>"
    assert reader.action_detail(run, "nope") is None


def test_run_state_changes_when_an_action_changes(tmp_path: Path) -> None:
    reader = _tree_journal(tmp_path)
    before = reader.run_state("r1")
    conn = sqlite3.connect(str(tmp_path / "journal.db"))
    conn.execute("UPDATE actions SET status='FAILED' WHERE action_id='g2'")
    conn.commit()
    conn.close()
    after = reader.run_state("r1")
    assert before is not None and after is not None and before["version"] != after["version"]
    assert reader.run_state("missing") is None


# ---- templates escape everything --------------------------------------------------------------------
def test_templates_escape_values_names_and_errors(tmp_path: Path) -> None:
    from flyte.ui._app import UI

    evil = "<script>alert(1)</script>"
    conn = new_journal(tmp_path / "journal.db")
    add_run(conn, "r1", task=evil, status="FAILED", error=error_json("ValueError", evil, evil))
    add_action(
        conn,
        "r1",
        "root",
        None,
        0,
        task=evil,
        group=evil,
        status="FAILED",
        inputs=b"J" + json.dumps({evil: evil}).encode(),
        outputs=b"J" + json.dumps(evil).encode(),
        error=error_json("ValueError", evil, evil),
    )
    add_action(conn, "r1", "kid", "root", 0, task=evil, group=evil)
    conn.close()
    ui = UI(str(tmp_path / "journal.db"))
    reader = ui.reader
    run = reader.get_run("r1")
    assert run is not None
    actions, _ = reader.run_actions("r1")
    roots = build_tree(actions)
    pages = [
        ui.env.get_template("run.html").render(
            run=run,
            roots=roots,
            counts={},
            total=2,
            shown=2,
            chart=gantt(run, roots),
            version="v",
            live=False,
            title=evil,
            journal_path=evil,
        ),
        ui.env.get_template("action.html").render(
            run=run,
            d=reader.action_detail(run, "root"),
            a=actions[0],
            version="v",
            live=False,
            title=evil,
            journal_path=evil,
        ),
        ui.env.get_template("runs.html").render(
            page=reader.list_runs(),
            status="",
            task=evil,
            tasks=[evil],
            filters={"task": evil},
            version="v",
            poll=True,
            title=evil,
            journal_path=evil,
        ),
    ]
    for html in pages:
        assert evil not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert html.count("<script") == 1  # the page's own /static/ui.js


def _row(aid: str, parent: str | None, pos: int, group: str | None = None) -> ActionRow:
    return ActionRow(
        aid, parent, pos, "task", "t", "python", "SUCCEEDED", 1, False, 1.0, 2.0, None, group, None
    )


def test_tree_caps_children_and_counts_the_rest() -> None:
    actions = [_row("root", None, 0)] + [_row(f"a{i}", "root", i, "g" if i % 2 else None) for i in range(250)]
    (root,) = build_tree(actions, max_children=100)
    shown = sum(len(it.items) if it.is_group else 1 for it in root.items)
    assert shown == 100 and root.hidden == 150 and root.hidden_counts == {"SUCCEEDED": 150}
    group = next(it for it in root.items if it.is_group)
    assert group.total == 125 and group.counts == {"SUCCEEDED": 125}  # type: ignore[union-attr]
    budget = build_tree(actions, max_children=1000, max_nodes=20)
    assert budget[0].hidden == 231


def test_truncated_runs_leave_out_actions_whose_parent_was_not_loaded() -> None:
    partial = [_row(f"a{i}", "root", i) for i in range(5)]
    assert build_tree(partial, complete=False) == []
    assert [n.action.action_id for n in build_tree(partial)] == [f"a{i}" for i in range(5)]
