"""An inline fan-out's children share one group commit (issue 20, fifth round): one future for all of
their results, start rows built only when still queued at a commit. What a user can observe must not
change: a cancelled child does not cancel its siblings' wait, a child still running at a commit shows
RUNNING in the journal, and every result is in the journal when its parent sees it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import flyte
from conftest import journal_rows

env = flyte.TaskEnvironment(name="fanout_group")

N = 50


@env.task
async def leaf(x: int) -> int:
    return x + 1


@env.task
async def slow_leaf(x: int) -> int:
    await asyncio.sleep(0.3)
    return x


@env.task
async def cancel_one() -> list[str]:
    """Every child waits on the same group commit when the first one is cancelled."""
    tasks = [asyncio.create_task(leaf(i)) for i in range(N)]
    await asyncio.sleep(0)  # the children ran up to their wait for the commit
    tasks[0].cancel()
    got = await asyncio.gather(*tasks, return_exceptions=True)
    return [type(g).__name__ if isinstance(g, BaseException) else str(g) for g in got]


@env.task
async def wide(n: int) -> int:
    return sum(await asyncio.gather(*(leaf(i) for i in range(n))))


@env.task
async def watch_running() -> int:
    """The parent reads the journal (another connection) while its child still runs."""
    from flyte._context import current_action

    ac = current_action.get()
    assert ac is not None
    t = asyncio.create_task(slow_leaf(7))
    await asyncio.sleep(0.1)  # a group commit has happened meanwhile
    run = ac.controller.run_name  # type: ignore[attr-defined]
    home = Path(ac.controller.journal.journal.path).parent  # type: ignore[attr-defined]
    rows = journal_rows(home, "SELECT status FROM actions WHERE run=? AND task_name=?", (run, slow_leaf.name))
    assert [r["status"] for r in rows] == ["RUNNING"], [tuple(r) for r in rows]
    return await t


def test_cancelling_one_child_leaves_the_others_results() -> None:
    got = flyte.run(cancel_one).outputs()[0]
    assert got[0] == "CancelledError"
    assert got[1:] == [str(i + 1) for i in range(1, N)]


def test_every_result_of_a_fan_out_is_committed(flyte_home: Path) -> None:
    run = flyte.run(wide, n=500)
    assert run.outputs()[0] == sum(range(1, 501))
    rows = journal_rows(
        flyte_home,
        "SELECT status, COUNT(*) AS n FROM actions WHERE run=? AND task_name=? GROUP BY status",
        (run.name, leaf.name),
    )
    assert [(r["status"], r["n"]) for r in rows] == [("SUCCEEDED", 500)]


def test_a_child_still_running_at_a_commit_shows_running() -> None:
    assert flyte.run(watch_running).outputs()[0] == 7
