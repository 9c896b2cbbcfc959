"""Issue 20: the redo log's batch timer and the group commit's loop turn.

While the redo log's batch timer (``RunJournal._later``) is armed and nobody waits, a start row and
a result logged in the redo log are left to the timer. These tests hold the guarantees around it
(any change to when ``_flush_soon`` is scheduled must keep them): such rows reach SQLite within
REDO_DELAY (and at ``close()``), a waiter still gets its commit at the next loop turn, and a full
redo batch commits without waiting for the timer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from conftest import action_row, done_row, journal_statuses
from flyte._runtime import journal
from flyte._runtime.journal import PUT_CACHE, CacheEntry, Journal, RunJournal


async def _arm_timer(rj: RunJournal) -> None:
    """One chain step, then the loop turn whose ``_flush_soon`` arms the redo batch timer."""
    rj.action_started(action_row(0))
    await rj.action_finished(done_row(0))
    await asyncio.sleep(0)
    assert rj._later is not None and not rj._waiters


def test_chain_steps_under_the_batch_timer_are_committed_by_it(tmp_path: Path) -> None:
    """Start rows and results logged in the redo log while the timer is armed are committed by it,
    within REDO_DELAY, with no other activity on the loop."""
    path = str(tmp_path / "j.db")
    j = Journal(path)
    rj = j.for_run(redo=True)
    assert rj._redo is not None

    async def main() -> None:
        await _arm_timer(rj)
        for i in range(1, 6):
            rj.action_started(action_row(i))
            await rj.action_finished(done_row(i))
        rj.action_started(action_row(6))  # still running: nobody waits on its row
        await asyncio.sleep(0)
        assert journal_statuses(path) == {}  # all of it still only queued / in the redo log
        await asyncio.sleep(journal.REDO_DELAY * 2)  # the timer armed before this sleep fires first
        got = journal_statuses(path)
        assert got == {**{f"a{i}": "SUCCEEDED" for i in range(6)}, "a6": "RUNNING"}

    try:
        asyncio.run(main())
    finally:
        rj.close()
        j.close()


def test_close_commits_a_start_row_left_to_the_timer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row left to the timer is still committed when the run ends (long before the timer)."""
    monkeypatch.setattr(journal, "REDO_DELAY", 30.0)
    path = str(tmp_path / "j.db")
    j = Journal(path)
    rj = j.for_run(redo=True)

    async def main() -> None:
        await _arm_timer(rj)
        rj.action_started(action_row(1))
        await asyncio.sleep(0)
        assert rj._later is not None
        rj.close()

    try:
        asyncio.run(main())
        assert journal_statuses(path) == {"a0": "SUCCEEDED", "a1": "RUNNING"}
    finally:
        j.close()


@pytest.mark.parametrize("how", ["result_and_cache", "connector_meta"])
def test_a_waiter_under_the_batch_timer_resumes_at_the_next_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A durable write that someone waits on, queued while the timer is armed and other work is on
    the loop (the group path), still schedules its commit: it resolves in a loop turn or two, not
    when the (here 30 s) timer fires, and what it waited on is in SQLite by then."""
    monkeypatch.setattr(journal, "REDO_DELAY", 30.0)
    path = str(tmp_path / "j.db")
    j = Journal(path)
    rj = j.for_run(redo=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await _arm_timer(rj)
        rj.action_started(action_row(1))  # left to the timer
        loop.call_soon(lambda: None)  # other work ready: the group path, with a waiter
        if how == "result_and_cache":
            rj._pending.append((PUT_CACHE, CacheEntry("k", "t", b"J", 1.0, "r", "a1")))
            waited = rj.action_finished(done_row(1))
        else:
            waited = rj.connector_created("r", "a1", '{"job": 1}')
        assert isinstance(waited, asyncio.Future)
        fut = waited
        for _ in range(4):
            if fut.done():
                break
            await asyncio.sleep(0)
        assert fut.done(), "the waiter was left to the batch timer"
        await fut
        raw = sqlite3.connect(path)
        try:
            if how == "result_and_cache":  # a cache entry must be in SQLite for the next lookup
                assert raw.execute("SELECT COUNT(*) FROM cache").fetchone()[0] == 1
                assert journal_statuses(path)["a1"] == "SUCCEEDED"
        finally:
            raw.close()

    try:
        asyncio.run(main())
    finally:
        rj.close()
        j.close()


def test_a_full_redo_batch_commits_without_the_timer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The redo log holds at most REDO_BATCH unapplied steps: the step that fills it schedules the
    commit even though the timer is armed and nobody waits."""
    monkeypatch.setattr(journal, "REDO_DELAY", 30.0)
    monkeypatch.setattr(journal, "REDO_BATCH", 4)
    path = str(tmp_path / "j.db")
    j = Journal(path)
    rj = j.for_run(redo=True)
    rl = rj._redo
    assert rl is not None

    async def main() -> None:
        await _arm_timer(rj)
        for i in range(1, 4):
            rj.action_started(action_row(i))
            await rj.action_finished(done_row(i))
        assert rl.seq - rl.applied == 4  # full: the next turn commits
        await asyncio.sleep(0)
        assert rl.applied == rl.seq == 4
        assert journal_statuses(path) == {f"a{i}": "SUCCEEDED" for i in range(4)}

    try:
        asyncio.run(main())
    finally:
        rj.close()
        j.close()
