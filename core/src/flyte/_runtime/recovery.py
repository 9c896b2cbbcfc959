"""What a recovering run reuses from a recorded run (``flyte rerun --recover``, ``--recover-from``).

Action IDs derive from the run's *ID base* (its own name, or the base of the run it recovered from),
so a new run that recovers from another computes the same IDs for the same calls and the recorded
results are matched by ID exactly as when a run recovers itself; the code identity check in the
controller still re-runs a task whose code changed.

``id_base`` itself lives in ``flyte._runtime.identity`` with the other ID formulas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from flyte._runtime.controller import SUCCEEDED, RecordedAction
from flyte._runtime.journal import Journal, RecordedRow

MIN_ID_PREFIX = 6
"""Shortest action-ID prefix accepted by name (``flyte runs show`` prints 12 characters)."""


def load_recorded(
    journal: Journal,
    source: str,
    base: str,
    *,
    same_run: bool,
    force: Sequence[str] = (),
    current: Mapping[str, str] | None = None,
) -> tuple[dict[str, RecordedAction], dict[tuple[str, int], str]]:
    """(recorded actions by ID, task name by (parent ID, position)) of ``source``.

    Actions named in ``force`` (and the ancestors that call them) are left out, so they execute
    again. A new run takes only succeeded actions and no positions: its code may legitimately call
    other tasks now, and whatever no longer matches simply runs. With ``current`` (task name ->
    code identity now), a task whose code changed is left out with its ancestors too: a parent's
    recorded result was computed by the old code of its children.
    """
    rows = journal.recorded_actions(source)
    forced = resolve_actions(rows, force, source)
    if current is not None:
        by_id = {r.action_id: r for r in rows}
        stale = [
            r.action_id for r in rows if r.kind == "task" and current.get(r.task_name) != r.task_identity
        ]
        forced |= _with_ancestors(stale, by_id)
    recorded: dict[str, RecordedAction] = {}
    positions: dict[tuple[str, int], str] = {}
    for r in rows:
        if same_run:
            positions[(r.parent_id or base, r.position)] = r.task_name
        if r.action_id in forced or (not same_run and r.status != SUCCEEDED):
            continue
        recorded[r.action_id] = RecordedAction(
            r.status,
            r.task_name,
            None if r.outputs is None else bytes(r.outputs),
            r.meta,
            r.task_identity,
        )
    return recorded, positions


def resolve_actions(rows: Sequence[RecordedRow], names: Sequence[str], run: str) -> set[str]:
    """IDs of the named actions, of everything they called (a listed parent re-runs its children
    too), and of their ancestors (which must run again to call them).

    A name is an action ID or a prefix of one as ``flyte runs show`` prints it, or a task name
    (``env.task`` or just ``task``: every action of that task). An unknown or ambiguous name is an
    error rather than silently ignored.
    """
    from flyte.errors import InvalidParameterError

    by_id = {r.action_id: r for r in rows}
    picked: set[str] = set()
    for raw in names:
        name = raw.strip()
        hits = [name] if name in by_id else []
        if not hits and len(name) >= MIN_ID_PREFIX:
            hits = [aid for aid in by_id if aid.startswith(name)]
            if len(hits) > 1:
                raise InvalidParameterError(
                    "rerun",
                    "force_rerun_action",
                    raw,
                    f"It matches {len(hits)} actions of run {run!r}; give more characters of the action ID.",
                )
        if not hits:
            hits = [a for a, r in by_id.items() if name in (r.task_name, r.task_name.rsplit(".", 1)[-1])]
        if not hits:
            raise InvalidParameterError(
                "rerun",
                "force_rerun_action",
                raw,
                f"Run {run!r} has no such action; use an action ID (or its first {MIN_ID_PREFIX}+ "
                f"characters) or a task name as `flyte runs show {run}` prints them.",
            )
        picked.update(hits)
    return _with_ancestors(_with_descendants(picked, rows), by_id)


def _with_descendants(ids: Iterable[str], rows: Sequence[RecordedRow]) -> set[str]:
    children: dict[str, list[str]] = {}
    for r in rows:
        if r.parent_id is not None:
            children.setdefault(r.parent_id, []).append(r.action_id)
    out: set[str] = set()
    todo = list(ids)
    while todo:
        aid = todo.pop()
        if aid not in out:
            out.add(aid)
            todo.extend(children.get(aid, ()))
    return out


def _with_ancestors(ids: Iterable[str], by_id: Mapping[str, RecordedRow]) -> set[str]:
    out: set[str] = set()
    for start in ids:
        aid: str | None = start
        while aid is not None and aid not in out:
            out.add(aid)
            row = by_id.get(aid)
            aid = row.parent_id if row is not None else None
    return out


def current_identities() -> dict[str, str]:
    """Task name -> code identity of every task defined in a loaded module (the code of a new run)."""
    import sys

    from flyte._environment import TaskEnvironment
    from flyte._task import TaskTemplate

    out: dict[str, str] = {}
    for mod in list(sys.modules.values()):
        for v in list(getattr(mod, "__dict__", {}).values()):
            if isinstance(v, TaskTemplate):
                out[v.name] = v.identity
            elif isinstance(v, TaskEnvironment):
                for t in v.tasks.values():
                    out[t.name] = t.identity
    return out
