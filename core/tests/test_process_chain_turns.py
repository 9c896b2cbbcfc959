"""Issue 20 item 4: a sequential chain's step in a worker process takes one driver loop turn.

The only action in flight (``alone``) queues its start row and logs its result in the redo log
without scheduling a group commit (``RunJournal._flush_soon``) while the redo log's batch timer is
armed and nobody waits (``RunJournal._idle``): that commit would do nothing but cost the step a
loop turn of its own. The timer commits those rows (within REDO_DELAY, and ``close()`` does); with
several actions in flight (a fan-out) or a waiter queued, the commit is scheduled as before.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import chain_turns_app as app
import flyte
import pytest
from conftest import action_row, comparable_record, count_fast_path, done_row, journal_rows, journal_statuses
from flyte._runtime import controller, journal
from flyte._runtime.journal import ActionRow, Journal, RunJournal
from flyte.testing._support import isolate


class _Start(journal.PendingStart):
    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i

    def running(self) -> ActionRow:
        return action_row(self.i)


async def _arm_timer(rj: RunJournal) -> None:
    rj.action_running("r", "a0", _Start(0))
    await rj.action_finished(done_row(0))
    await asyncio.sleep(0)
    assert rj._later is not None and not rj._waiters and not rj._scheduled


def _journal(tmp_path: Path) -> tuple[str, Journal, RunJournal]:
    path = str(tmp_path / "j.db")
    j = Journal(path)
    rj = j.for_run(redo=True)
    assert rj._redo is not None
    return path, j, rj


@pytest.mark.parametrize("alone", [True, False])
def test_the_only_action_in_flight_schedules_no_idle_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alone: bool
) -> None:
    """Under the armed timer, the only action's start row and logged result schedule no loop turn;
    they reach SQLite when the timer fires. Not alone, the turn is scheduled as before."""
    monkeypatch.setattr(journal, "REDO_DELAY", 0.2)
    path, j, rj = _journal(tmp_path)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await _arm_timer(rj)
        for i in range(1, 5):
            rj.action_running("r", f"a{i}", _Start(i), alone)
            assert rj._scheduled is not alone
            await asyncio.sleep(0)  # (a worker's answer comes in a later turn)
            await rj.action_finished(done_row(i), None, loop, alone)
            assert rj._scheduled is not alone
            await asyncio.sleep(0)
        rj.action_running("r", "a5", _Start(5), alone)  # still running: nobody waits on its row
        await asyncio.sleep(0)
        assert journal_statuses(path) == {}  # queued, or in the redo log, until the timer
        await asyncio.sleep(0.5)
        assert journal_statuses(path) == {**{f"a{i}": "SUCCEEDED" for i in range(5)}, "a5": "RUNNING"}

    try:
        asyncio.run(main())
    finally:
        rj.close()
        j.close()


def test_close_commits_what_the_only_action_left_to_the_timer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "REDO_DELAY", 30.0)
    path, j, rj = _journal(tmp_path)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await _arm_timer(rj)
        rj.action_running("r", "a1", _Start(1), True)
        await rj.action_finished(done_row(1), None, loop, True)
        rj.action_running("r", "a2", _Start(2), True)
        assert not rj._scheduled
        rj.close()

    try:
        asyncio.run(main())
        assert journal_statuses(path) == {"a0": "SUCCEEDED", "a1": "SUCCEEDED", "a2": "RUNNING"}
    finally:
        j.close()


def test_alone_arms_the_timer_and_keeps_the_turn_for_a_waiter_or_a_full_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``alone`` skips the turn only when it would do nothing but arm the timer (armed at once
    instead): not while a waiter is queued, not once the redo batch is full (which commits at once)."""
    monkeypatch.setattr(journal, "REDO_DELAY", 30.0)
    monkeypatch.setattr(journal, "REDO_BATCH", 4)
    path, j, rj = _journal(tmp_path)
    rl = rj._redo
    assert rl is not None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        rj.action_running("r", "a0", _Start(0), True)  # no timer yet: armed at once, no turn
        assert not rj._scheduled and rj._later is not None
        await rj.action_finished(done_row(0), None, loop, True)
        assert rj._later is not None and not rj._scheduled
        loop.call_soon(lambda: None)  # other work ready: the group path, with a waiter
        waited = rj.connector_created("r", "a0", '{"job": 1}')
        assert rj._waiters and rj._scheduled
        rj._scheduled = False  # (as if its turn were still to be scheduled)
        rj.action_running("r", "a1", _Start(1), True)
        assert rj._scheduled  # a waiter: the turn is scheduled
        await waited
        assert journal_statuses(path)["a0"] == "SUCCEEDED"  # committed at the next turn, not at the timer
        for i in range(1, 5):
            rj.action_running("r", f"a{i}", _Start(i), True)
            await rj.action_finished(done_row(i), None, loop, True)
        assert rl.seq - rl.applied >= 4 and rj._scheduled  # full: the next turn commits
        await asyncio.sleep(0)
        assert rl.applied == rl.seq
        assert journal_statuses(path) == {f"a{i}": "SUCCEEDED" for i in range(5)}

    try:
        asyncio.run(main())
    finally:
        rj.close()
        j.close()


def _count_flushes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    n = [0]
    flush = RunJournal._flush_soon

    def counted(self: Any) -> None:
        n[0] += 1
        flush(self)

    monkeypatch.setattr(RunJournal, "_flush_soon", counted)
    return n


def test_a_process_chain_step_takes_no_group_commit_turn(
    monkeypatch: pytest.MonkeyPatch, flyte_home: Path
) -> None:
    """End to end: a chain of 60 steps in a worker process, its batch timer armed early (30 s)
    schedules no group commit per step; every row is in the journal when the run ends."""
    monkeypatch.setattr(journal, "REDO_DELAY", 30.0)
    flushes = _count_flushes(monkeypatch)
    run = flyte.run(app.chain, n=60)
    assert run.outputs()[0] == 61
    assert flushes[0] < 15, flushes[0]  # the start-up's turns; was one (or more) per step
    rows = journal_rows(flyte_home, "SELECT status, mode FROM actions WHERE run=?", (run.name,))
    assert len(rows) == 62
    assert {(r["status"], r["mode"]) for r in rows} == {("SUCCEEDED", "process"), ("SUCCEEDED", "inline")}


def test_a_process_fan_out_keeps_its_group_commits(monkeypatch: pytest.MonkeyPatch, flyte_home: Path) -> None:
    """With many actions in flight the journal's group commit turns are kept (a fan-out's results
    are committed a group at a time), and every row is recorded."""
    monkeypatch.setattr(journal, "REDO_DELAY", 30.0)
    flushes = _count_flushes(monkeypatch)
    run = flyte.run(app.fanout, n=40)
    assert run.outputs()[0] == list(range(1, 41))
    assert flushes[0] >= 5, flushes[0]
    rows = journal_rows(flyte_home, "SELECT status FROM actions WHERE run=?", (run.name,))
    assert len(rows) == 41 and {r["status"] for r in rows} == {"SUCCEEDED"}


def _run_in(home_dir: Path, monkeypatch: pytest.MonkeyPatch, fast: bool) -> tuple[str, Any, Any, int]:
    monkeypatch.setattr(controller, "FAST_CALLS", fast)
    home_dir.mkdir()
    home = isolate(monkeypatch, home_dir)
    taken = count_fast_path(monkeypatch, "_submit_proc")
    flyte.init()
    out = flyte.with_runcontext(name="same-run").run(app.program, n=6).outputs()[0]
    actions, attempts = comparable_record(home, "chain_turns_app")
    return out, actions, attempts, taken[0]


def test_process_fast_and_general_paths_record_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain child in a worker process takes ``Controller._submit_proc``; it records exactly what
    the general path (``submit``, ``_attempts``) records: the same program under the same run name
    in two homes, every action and attempt row equal but for the clock."""
    out_fast, actions_fast, attempts_fast, taken = _run_in(tmp_path / "fast", monkeypatch, True)
    out_slow, actions_slow, attempts_slow, not_taken = _run_in(tmp_path / "slow", monkeypatch, False)
    assert taken >= 6 + 6 + 3 + 2 + 3 + 2 and not_taken == 0
    words = str(["A!", 'Q"\\!', "É!"])
    expected = f"{6 + 3 + 2} {sum(range(1, 7))} {words} ['RuntimeUserError', 'timeout']"
    assert out_fast == out_slow == expected
    assert len(actions_fast) == 1 + 6 + 6 + 1 + 3 + 2 + 3 + 1 + 1
    assert actions_fast == actions_slow
    assert {r[15] for r in actions_fast if r[5] != "ct_parent.program" and r[5] != "ct_parent.middle"} == {
        "process"
    }
    assert sorted({r[8] for r in actions_fast}) == ["ABORTED", "FAILED", "SUCCEEDED"]
    assert sorted(r[3] for r in attempts_fast) == ["ABORTED", "FAILED"]  # nap, boom
    assert attempts_fast == attempts_slow
    failed = [r for r in actions_fast if r[8] == "FAILED"]
    assert failed and failed[0][13][1], failed  # the user's raising line is in the record
