"""A usual cache hit (no earlier attempts, no live view, no cluster) writes its action row straight
from ``Controller.submit``, without ``_Row`` (issue 20, eighth round). It must record what the row path
records: the same program is run under the same run names in two homes, once as usual and once with a
listener (the live view's hook), which keeps the row path; every action row must match but for the
clock. The lookup's own short path (a live snapshot answered from memory) must still see this
process's writes at once, whatever made them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import journal_rows
from flyte._runtime import controller
from flyte._runtime.journal import PUT_CACHE, CacheEntry, Journal
from flyte.testing._support import isolate

env = flyte.TaskEnvironment(name="hit_row")
RAN: list[Any] = []


@env.task(cache="auto")
async def double(x: int) -> int:
    RAN.append(x)
    return 2 * x


@env.task(cache="auto")
async def tag(s: str) -> str:
    RAN.append(s)
    return s + "!"


@env.task(cache="auto")
async def pair(a: int, b: int) -> list[int]:  # two inputs, a list: the general encoder and decoder
    RAN.append((a, b))
    return [a, b]


@env.task
async def program(n: int) -> str:
    total = sum(await asyncio.gather(*(double(i) for i in range(n))))
    with flyte.group("grouped"):
        total += await double(100)
    total += await double(0)  # the same call again: its own action (seq 1), a hit in both runs
    text = await tag('é "q" \\')
    got = await pair(3, b=4)
    return f"{total} {text} {got}"


COLS = (
    "run, action_id, parent_id, position, kind, task_name, task_identity, task_type, status, attempts, "
    "cache_hit, inputs, outputs, error, group_name, mode, meta"
)


def _run_in(home_dir: Path, monkeypatch: pytest.MonkeyPatch, watched: bool) -> tuple[list[str], Any, int]:
    home_dir.mkdir()
    home = isolate(monkeypatch, home_dir)
    rows_made = [0]
    cached = controller._Row.cached

    def counted(self: Any, outputs: bytes) -> Any:
        rows_made[0] += 1
        return cached(self, outputs)

    monkeypatch.setattr(controller._Row, "cached", counted)
    flyte.init()
    seen: list[str] = []
    outs = []
    for name in ("cold", "warm"):
        rc = flyte.with_runcontext(name=name)
        if watched:  # what the CLI's live view does
            rc.listeners.append(lambda event, _action, _status: seen.append(event))
        outs.append(rc.run(program, n=5).outputs()[0])
    rows = journal_rows(home, f"SELECT {COLS}, started_at, ended_at FROM actions ORDER BY run, action_id")
    for r in rows:
        assert r["started_at"] <= r["ended_at"], tuple(r)
    assert ("cached" in seen) == watched
    return outs, [tuple(r)[:17] for r in rows], rows_made[0]


def test_a_direct_hit_row_is_the_row_paths_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    RAN.clear()
    outs, rows, made = _run_in(tmp_path / "direct", monkeypatch, watched=False)
    ran_direct = list(RAN)
    RAN.clear()
    outs_w, rows_w, made_w = _run_in(tmp_path / "watched", monkeypatch, watched=True)
    expected = f'{2 * sum(range(5)) + 200} é "q" \\! [3, 4]'
    assert outs == outs_w == [expected, expected]
    # Only the cold run's first calls ran (double(0) again is a hit already there)
    assert ran_direct == RAN == [0, 1, 2, 3, 4, 100, 'é "q" \\', (3, 4)]
    hits = [r for r in rows if r[10] == 1]
    assert len(hits) == 1 + 9  # cold: the repeated double(0); warm: all nine children
    assert made == 0 and made_w == len(hits)  # the direct row, and the row path with a listener
    assert rows == rows_w
    warm = {r[3]: r for r in rows if r[0] == "warm" and r[2] is not None}
    cold = {r[3]: r for r in rows if r[0] == "cold" and r[2] is not None}
    assert sorted(warm) == sorted(cold) == list(range(9))
    for pos, r in warm.items():  # a hit's row: the executed action's inputs, outputs and columns
        was = cold[pos]
        assert (r[8], r[9], r[10], r[13], r[16]) == ("SUCCEEDED", 0, 1, None, None)
        assert r[4:8] == was[4:8] and r[11:13] == was[11:13] and r[14:16] == was[14:16]
    assert [r[14] for _, r in sorted(warm.items())] == [None] * 5 + ["grouped"] + [None] * 3
    assert {r[15] for r in rows} == {"inline"}


@env.task
async def fan(n: int) -> int:
    return sum(await asyncio.gather(*(double(i) for i in range(n))))


def test_a_direct_hit_row_keeps_the_actions_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes for every action: the hit's row says where the action would have run."""
    home = isolate(monkeypatch, tmp_path)
    flyte.init()
    for name in ("p-cold", "p-warm"):
        assert flyte.with_runcontext(name=name, isolation="process").run(fan, n=3).outputs()[0] == 6
    rows = journal_rows(
        home, "SELECT run, position, cache_hit, mode FROM actions WHERE parent_id IS NOT NULL ORDER BY run"
    )
    cold = sorted((r["position"], r["mode"]) for r in rows if r["run"] == "p-cold")
    warm = sorted((r["position"], r["mode"]) for r in rows if r["run"] == "p-warm")
    assert warm == cold and {m for _, m in cold} == {"process"}
    assert {r["cache_hit"] for r in rows if r["run"] == "p-warm"} == {1}


def _entry(key: str, value: bytes, created: float | None = None) -> CacheEntry:
    return CacheEntry(key, "t", value, time.time() if created is None else created, "r", "a")


def test_a_write_inside_the_snapshot_shows_at_once(tmp_path: Path) -> None:
    """A write through the journal's connection that leaves the lookups' read transaction open
    (nothing ends it) must still not be answered from memory."""
    mine = Journal(str(tmp_path / "j.db"))
    try:
        mine.commit([(PUT_CACHE, _entry("a", b"J1")), (PUT_CACHE, _entry("old", b"J3", time.time() - 100))])
        assert mine.cache_lookup("a") == b"J1"  # remembered, the snapshot open
        assert mine.cache_lookup("a") == b"J1"  # (the short path)
        assert mine._reader is not None and mine._reader.in_transaction
        with mine.lock:
            mine.conn.execute("UPDATE cache SET outputs=? WHERE key=?", (b"J2", "a"))
        assert mine._reader.in_transaction  # the read was not ended by that write
        assert mine.cache_lookup("a") == b"J2"
        assert mine.cache_lookup("a") == b"J2"
        with mine.lock:
            mine.conn.execute("DELETE FROM cache WHERE key=?", ("a",))
        assert mine.cache_lookup("a") is None
        assert mine.cache_lookup("old") == b"J3"
        assert mine.cache_lookup("old", max_age=10) is None  # remembered, and still ages
        assert mine.cache_lookup("old", max_age=1000) == b"J3"
    finally:
        mine.close()
