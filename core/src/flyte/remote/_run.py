"""``flyte.remote.Run``: a recorded run, read from the journal (from any process on this machine)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flyte._run import ActionOutputs, ActionPhase, syncify_method
from flyte._runtime import reader
from flyte.errors import InvalidParameterError, RunNotFoundError
from flyte.remote._action import Action, ActionDetails, ActionInputs, _raise_unless_succeeded, phase_of
from flyte.remote._common import syncify_classmethod

__all__ = ["Run", "RunDetails"]

WAIT_POLL_S = 0.2


def _phase_names(in_phase: Any) -> list[str]:
    names = []
    for p in in_phase:
        try:
            names.append(ActionPhase(p.value if isinstance(p, ActionPhase) else str(p).lower()).name)
        except ValueError:
            raise InvalidParameterError(
                "Run.listall", "in_phase", p, f"Use ActionPhase values: {[x.value for x in ActionPhase]}."
            ) from None
    return names


class Run:
    """A recorded run. ``phase`` is read when the object is made; ``sync()``/``wait()`` refresh it."""

    def __init__(self, row: dict[str, Any]) -> None:
        self._row = row

    # ---- lookup ------------------------------------------------------------------------------------
    @syncify_classmethod
    def get(cls: type[Run], name: str) -> Run:
        """The run named ``name``."""
        row = reader.get_run(name)
        if row is None:
            raise RunNotFoundError(f"no run named {name!r} in this journal; see `flyte runs list`")
        return cls(row)

    @syncify_classmethod
    def listall(
        cls: type[Run],
        in_phase: tuple[ActionPhase | str, ...] | None = None,
        task_name: str | None = None,
        task_version: str | None = None,
        created_by_subject: str | None = None,
        sort_by: tuple[str, str] | None = None,
        limit: int = 100,
        project: str | None = None,
        domain: str | None = None,
        created_at: Any = None,
        updated_at: Any = None,
        with_labels: dict[str, str] | None = None,
        with_label_keys: list[str] | None = None,
        paused_actions_only: bool = False,
    ) -> Iterator[Run]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidParameterError("Run.listall", "limit", limit, "Use a positive int.")
        for arg, value in (
            ("task_version", task_version),
            ("created_at", created_at),
            ("updated_at", updated_at),
            ("with_labels", with_labels),
            ("with_label_keys", with_label_keys),
        ):
            if value:
                raise InvalidParameterError(
                    "Run.listall", arg, value, "Local runs record no such field; filter without it."
                )
        statuses = _phase_names(in_phase) if in_phase else None
        try:
            rows = reader.list_runs(
                statuses=statuses,
                task_name=task_name,
                user=created_by_subject,
                project=project,
                domain=domain,
                sort_by=sort_by or ("created_at", "desc"),
                limit=limit,
            )
        except ValueError as e:
            raise InvalidParameterError("Run.listall", "sort_by", sort_by, str(e)) from None
        return iter([cls(r) for r in rows])

    # ---- state -------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._row["name"])

    @property
    def status(self) -> str:
        """The journal's word (``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``ABORTED``, ``INTERRUPTED``)."""
        return reader.effective_status(self._row)

    @property
    def phase(self) -> ActionPhase:
        status = self.status
        return ActionPhase.ABORTED if status == "INTERRUPTED" else phase_of(status)

    @property
    def task_name(self) -> str:
        return str(self._row["task_name"])

    @property
    def url(self) -> str:
        from flyte._config import get_settings
        from flyte._runtime.journal_backend import run_url

        return run_url(get_settings().journal_path, self.name)

    @property
    def error_info(self) -> dict[str, Any] | None:
        return reader.error_info(self._row.get("error"))

    def done(self) -> bool:
        return self.phase.is_terminal

    def sync(self) -> Run:
        """Read the run's record again."""
        self._row = reader.get_run(self.name) or self._row
        return self

    @syncify_method
    def wait(self, quiet: bool = False, wait_for: str = "terminal") -> None:
        """Poll the journal until the run ends (``wait_for="running"``: until it has started)."""
        if wait_for not in ("terminal", "running"):
            raise InvalidParameterError("Run.wait", "wait_for", wait_for, "Use 'terminal' or 'running'.")
        while not self.sync().done() and wait_for == "terminal":
            time.sleep(WAIT_POLL_S)

    @syncify_method
    def inputs(self) -> ActionInputs:
        from flyte.remote._values import decode_inputs, load_run_task

        return ActionInputs(decode_inputs(self._row.get("inputs"), load_run_task(self._row)))

    @syncify_method
    def outputs(self) -> ActionOutputs:
        """The root task's outputs (``outputs()[0]`` for one value); raises when the run did not succeed."""
        from flyte.remote._values import decode_output, load_run_task

        self.sync()
        _raise_unless_succeeded(self.phase, self.error_info, f"run {self.name}")
        raw = self._row.get("outputs")
        if raw is None:  # the root action keeps the run's result
            raw = (reader.get_action(self.name, self._row.get("root_action") or "") or {}).get("outputs")
        return ActionOutputs(decode_output(raw, load_run_task(self._row)))

    @syncify_method
    def raise_for_status(self) -> None:
        self.sync()
        if self.phase is not ActionPhase.SUCCEEDED and self.done():
            _raise_unless_succeeded(self.phase, self.error_info, f"run {self.name}")

    @property
    def action(self) -> Action:
        """The root action."""
        root = self._row.get("root_action")
        actions = reader.list_actions(self.name)
        for a in actions:
            if a["action_id"] == root or (root is None and a["parent_id"] is None):
                return Action._from_row(self.name, a)
        raise RunNotFoundError(f"run {self.name!r} has no recorded root action yet")

    def actions(self) -> list[Action]:
        """Every action of the run, in the order they started."""
        return Action.listall(self.name)

    @syncify_method
    def details(self) -> RunDetails:
        self.sync()
        return RunDetails(run=self, action_details=self.action.details())

    @syncify_method
    def first_failure(self) -> ActionDetails | None:
        failed = [a for a in self.actions() if a.phase is ActionPhase.FAILED]
        failed.sort(key=lambda a: a.end_time.timestamp() if a.end_time else 0.0)
        return failed[0].details() if failed else None

    @syncify_method
    def get_logs(self, attempt: int | None = None) -> str | None:
        """What the root action printed."""
        return self.action.details().logs(attempt)

    @syncify_method
    def abort(self, reason: str = "Manually aborted from the SDK api.") -> None:
        """Mark an interrupted run (its process is gone) as aborted; a finished run is left as it is.

        A run executing in a live process cannot be stopped from here: local runs have no control
        plane to deliver the request, so this raises and says which process to stop.
        """
        from flyte._runtime.controller import ABORTED, RUNNING, aborted_error
        from flyte.errors import RuntimeUserError

        self.sync()
        status = self.status
        if status != "RUNNING" and status != "INTERRUPTED":
            return
        if status == "RUNNING":
            raise RuntimeUserError(
                "AbortNotSupported",
                f"run {self.name} is executing in process {self._row.get('pid')} on "
                f"{self._row.get('host')}; this SDK has no control plane to abort it from another "
                "process or thread. Stop that process (Ctrl-C or kill PID): the run is then recorded as "
                f"interrupted and `flyte.remote.Run.get({self.name!r}).abort()` marks it aborted",
            )
        err = reader.error_info(aborted_error()) or {}
        err["message"] = reason
        lease = reader.mark_aborted(self.name, err, aborted_error(), (ABORTED, RUNNING))
        if lease is not None:  # its process on this host is gone, but a driver elsewhere recovered it
            raise RuntimeUserError(
                "AbortNotSupported",
                f"run {self.name} is executing: its driver (process {lease.pid} on host {lease.host}) holds"
                " its lease; this SDK has no control plane to abort it from here. Stop that process: the"
                f" run is then interrupted and `flyte.remote.Run.get({self.name!r}).abort()` aborts it",
            )
        self.sync()

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, task={self.task_name!r}, phase={self.phase.value!r})"


@dataclass
class RunDetails:
    """A run and its root action's details."""

    run: Run
    action_details: ActionDetails

    @property
    def name(self) -> str:
        return self.run.name
