"""Plain workflows for determinism and concurrent-run tests."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys

import flyte

env = flyte.TaskEnvironment(name="work_app")


@env.task
async def leaf(x: int) -> int:
    return x + 1


@flyte.trace
async def traced(x: int) -> int:
    return x * 2


@env.task
async def mid(base: int, width: int) -> int:
    # The same (task, inputs) twice: told apart by the per-parent call sequence.
    values = await asyncio.gather(leaf(base), leaf(base), *(leaf(base + i) for i in range(width)))
    return sum(values) + await traced(base)


@env.task
async def tree(width: int) -> int:
    return sum(await asyncio.gather(*(mid(i * 10, width) for i in range(width))))


@env.task
async def fanout(n: int) -> int:
    return sum(await asyncio.gather(*(leaf(i) for i in range(n))))


def dump_actions(run_name: str) -> None:
    """Print the run's action rows as JSON (for a test comparing two processes)."""
    from flyte._config import get_settings

    conn = sqlite3.connect(get_settings().journal_path)
    rows = conn.execute(
        "SELECT action_id, parent_id, position, task_name, status FROM actions WHERE run=?"
        " ORDER BY action_id",
        (run_name,),
    ).fetchall()
    json.dump([list(r) for r in rows], sys.stdout)


@env.task
async def tagged(tags: set[str], groups: dict[str, frozenset[str]]) -> int:
    return len(tags) + sum(len(g) for g in groups.values())


@env.task
async def tree_with_sets(width: int) -> int:
    tags = {f"tag-{i}" for i in range(20)}
    groups = {"a": frozenset({"x", "yy", "zzz", "w"}), "b": frozenset({"p", "q"})}
    return await tree(width) + await tagged(tags, groups)
