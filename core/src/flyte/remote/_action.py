"""``flyte.remote.Action`` / ``ActionDetails``: one recorded action of a run, from the journal."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flyte._run import ActionOutputs, ActionPhase, syncify_method
from flyte._runtime import reader

__all__ = ["Action", "ActionDetails", "ActionInputs", "ActionOutputs", "Attempt"]

_PHASE = {
    "RUNNING": ActionPhase.RUNNING,
    "QUEUED": ActionPhase.QUEUED,
    "SUCCEEDED": ActionPhase.SUCCEEDED,
    "FAILED": ActionPhase.FAILED,
    "ABORTED": ActionPhase.ABORTED,
}


def phase_of(status: str | None) -> ActionPhase:
    return _PHASE.get(status or "", ActionPhase.RUNNING)


def _time(t: float | None) -> dt.datetime | None:
    return None if t is None else dt.datetime.fromtimestamp(t, tz=dt.UTC)


class ActionInputs(dict):  # type: ignore[type-arg]
    """An action's inputs by name (the reference SDK's ``ActionInputs`` is a mapping too)."""


@dataclass
class Attempt:
    """One attempt of an action: its phase, times, error (the journal's JSON) and printed log."""

    attempt: int
    phase: ActionPhase
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    error_info: dict[str, Any] | None
    logs: str | None


@dataclass
class Action:
    """A recorded action: ``name`` is its action ID; ``run_name`` the run it belongs to."""

    run_name: str
    name: str
    task_name: str
    phase: ActionPhase
    parent: str | None
    attempts: int
    cache_hit: bool
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    _row: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def _from_row(cls, run_name: str, row: dict[str, Any]) -> Action:
        return cls(
            run_name=run_name,
            name=row["action_id"],
            task_name=row["task_name"],
            phase=phase_of(row["status"]),
            parent=row["parent_id"],
            attempts=int(row["attempts"] or 0),
            cache_hit=bool(row["cache_hit"]),
            start_time=_time(row["started_at"]),
            end_time=_time(row["ended_at"]),
            _row=row,
        )

    @classmethod
    def get(cls, run_name: str, name: str) -> Action:
        """The action ``name`` (its ID) of run ``run_name``."""
        from flyte.errors import ActionNotFoundError

        row = reader.get_action(run_name, name)
        if row is None:
            raise ActionNotFoundError(
                f"run {run_name!r} has no action {name!r}; see `flyte runs show {run_name}`"
            )
        return cls._from_row(run_name, row)

    @classmethod
    def listall(cls, for_run_name: str) -> list[Action]:
        """Every action of the run, in the order they started."""
        return [cls._from_row(for_run_name, r) for r in reader.list_actions(for_run_name)]

    @property
    def error_info(self) -> dict[str, Any] | None:
        return reader.error_info(self._row.get("error"))

    @property
    def runtime(self) -> dt.timedelta | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    def done(self) -> bool:
        return self.phase.is_terminal

    def details(self) -> ActionDetails:
        """Attempts (with errors and logs) and timings of this action."""
        run = reader.get_run(self.run_name) or {}
        attempts = []
        rows = reader.list_attempts(self.run_name, self.name)
        r = self._row
        if r["status"] in ("SUCCEEDED", "RUNNING", "QUEUED") or not rows:
            # the journal records failed attempts; the one that succeeded (or runs) is the action's row
            last = {
                "attempt": rows[-1]["attempt"] + 1 if rows else 0,
                "status": r["status"],
                "started_at": rows[-1]["ended_at"] if rows else r["started_at"],
                "ended_at": r["ended_at"],
                "error": r["error"] if not rows else None,
            }
            rows = [*rows, last]
        for a in rows:
            attempts.append(
                Attempt(
                    attempt=a["attempt"],
                    phase=phase_of(a["status"]),
                    start_time=_time(a["started_at"]),
                    end_time=_time(a["ended_at"]),
                    error_info=reader.error_info(a["error"]),
                    logs=reader.action_logs(run.get("store_prefix"), self.name, a["attempt"]),
                )
            )
        return ActionDetails(action=self, attempts=attempts)

    @syncify_method
    def inputs(self) -> ActionInputs:
        from flyte.remote._values import decode_inputs, find_task, load_run_task

        row = reader.get_action(self.run_name, self.name) or {}
        task = find_task(load_run_task(reader.get_run(self.run_name) or {"attr": ""}), self.task_name)
        return ActionInputs(decode_inputs(row.get("inputs"), task))

    @syncify_method
    def outputs(self) -> ActionOutputs:
        from flyte.remote._values import decode_output, find_task, load_run_task

        _raise_unless_succeeded(self.phase, self.error_info, f"action {self.name} of run {self.run_name}")
        row = reader.get_action(self.run_name, self.name) or {}
        task = find_task(load_run_task(reader.get_run(self.run_name) or {"attr": ""}), self.task_name)
        return ActionOutputs(decode_output(row.get("outputs"), task))


@dataclass
class ActionDetails:
    """An action with its attempts: ``attempts[i].error_info`` and ``.logs`` per attempt."""

    action: Action
    attempts: list[Attempt]

    @property
    def name(self) -> str:
        return self.action.name

    @property
    def phase(self) -> ActionPhase:
        return self.action.phase

    @property
    def error_info(self) -> dict[str, Any] | None:
        return self.action.error_info

    @property
    def runtime(self) -> dt.timedelta | None:
        return self.action.runtime

    def logs(self, attempt: int | None = None) -> str | None:
        """The log of ``attempt`` (default: the last one)."""
        if not self.attempts:
            return None
        if attempt is None:
            return self.attempts[-1].logs
        for a in self.attempts:
            if a.attempt == attempt:
                return a.logs
        return None


def _raise_unless_succeeded(phase: ActionPhase, error: dict[str, Any] | None, what: str) -> None:
    from flyte.errors import RuntimeUserError

    if phase is ActionPhase.SUCCEEDED:
        return
    if phase is ActionPhase.FAILED and error:
        raise RuntimeUserError(str(error.get("code") or "Failed"), f"{what} failed: {error.get('message')}")
    raise RuntimeUserError("NotSucceeded", f"{what} has no outputs: it is {phase.value}")
