"""A local scheduler for the Cron and FixedRate triggers of a file's tasks, durable across crashes.

Each pass (``tick``) computes the occurrences that came due since the last journaled one and
journals them, with the deterministic name of the run each one starts, in one transaction, *before*
any run starts. Hence:

- a scheduler killed at any point and started again never fires an occurrence twice (the
  occurrence is journaled once, and its run name can exist once);
- an occurrence journaled whose run had not started yet is started at the next start, and one
  whose run was interrupted (its process killed) is recovered in place, keeping what succeeded;
- occurrences that came due while no scheduler ran are caught up by the policy ``catch_up``:
  ``all`` (each one, oldest first), ``latest`` (the most recent one; the others are journaled as
  SKIPPED) or ``none`` (all journaled as SKIPPED).

The clock is injected (``Clock``): tests move a fake one; ``ScaledClock`` runs time faster for
demos and for the crash test of a real ``flyte triggers serve`` process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from flyte._trigger import Cron, FixedRate, Trigger, TriggerTime
from flyte._triggers.schedule import next_fire, occurrences
from flyte.errors import InvalidParameterError

logger = logging.getLogger("flyte.triggers")

CATCH_UP = ("all", "latest", "none")
STARTING, STARTED, SKIPPED, NOT_STARTED = "STARTING", "STARTED", "SKIPPED", "NOT_STARTED"


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


@dataclass
class ScaledClock:
    """Time that runs ``scale`` times faster than the wall clock from ``origin`` (POSIX seconds).
    The origin is kept in the journal, so a restarted scheduler continues the same timeline."""

    origin: float
    scale: float

    def now(self) -> float:
        return self.origin + (time.time() - self.origin) * self.scale


@dataclass(frozen=True)
class Served:
    """One scheduled trigger of one task, as this scheduler serves it."""

    key: str
    task: Any
    trigger: Trigger
    activated_at: float

    @property
    def automation(self) -> Cron | FixedRate:
        assert isinstance(self.trigger.automation, (Cron, FixedRate))
        return self.trigger.automation


@dataclass(frozen=True)
class Fire:
    key: str
    scheduled_at: float
    run: str
    served: Served
    resume: bool = False  # its run was interrupted (its process died): recover it, do not start anew


def trigger_key(task: Any, trigger: Trigger) -> str:
    return f"{task.name}/{trigger.name}"


def run_name_for(key: str, trigger_name: str, scheduled_at: float) -> str:
    """The one run an occurrence may start: trigger name, UTC time (ms), and a hash of the key."""
    stamp = datetime.fromtimestamp(scheduled_at, UTC).strftime("%Y%m%dT%H%M%S")
    ms = round((scheduled_at % 1) * 1000) % 1000
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", trigger_name).strip("-.") or "trigger"
    h = hashlib.sha256(key.encode()).hexdigest()[:6]
    return f"{base[:80]}-{stamp}{ms:03d}-{h}"


def scheduled_triggers(module: Any) -> list[tuple[Any, Trigger]]:
    """(task, trigger) for every Cron/FixedRate trigger with ``auto_activate`` of ``module``'s tasks."""
    from flyte._task import TaskTemplate

    found = []
    for value in vars(module).values():
        if isinstance(value, TaskTemplate):
            for trig in getattr(value, "triggers", ()) or ():
                if isinstance(trig.automation, (Cron, FixedRate)) and trig.auto_activate:
                    found.append((value, trig))
    return found


def automation_from_dict(d: dict[str, Any] | None) -> Cron | FixedRate | None:
    """A recorded automation (``Trigger.to_dict()['automation']``) back as an object."""
    if not d:
        return None
    if "cron" in d:
        return Cron(d["cron"]["expression"], d["cron"].get("timezone", "UTC"))
    if "fixed_rate" in d:
        fr = d["fixed_rate"]
        start = datetime.fromisoformat(fr["start_time"]) if fr.get("start_time") else None
        return FixedRate(fr["interval_minutes"], start)
    return None


def _check_inputs(task: Any, trigger: Trigger) -> None:
    """A scheduled run has no one to ask for inputs: every input without a default must be bound."""
    import inspect

    params = getattr(getattr(task, "interface", None), "inputs", {}) or {}
    missing = [
        k for k, (_, d) in params.items() if d is inspect.Parameter.empty and k not in (trigger.inputs or {})
    ]
    if missing:
        raise InvalidParameterError(
            f"Trigger({trigger.name!r}) of {task.name}",
            "inputs",
            trigger.inputs,
            f"The task's inputs {missing} have no default: bind them, e.g. inputs={{{missing[0]!r}: ...}} "
            "(flyte.TriggerTime for the fire time).",
        )


def trigger_inputs(trigger: Trigger, scheduled_at: float) -> dict[str, Any]:
    """The trigger's inputs, with ``TriggerTime`` bound to the occurrence (in the cron's timezone)."""
    tz: Any = UTC
    if isinstance(trigger.automation, Cron):
        import zoneinfo

        tz = zoneinfo.ZoneInfo(trigger.automation.timezone)
    at = datetime.fromtimestamp(scheduled_at, tz)
    return {k: (at if v is TriggerTime else v) for k, v in (trigger.inputs or {}).items()}


class Scheduler:
    """Fires the served triggers at their times; see the module docstring for the guarantees."""

    def __init__(
        self,
        journal: Any,
        triggers: Iterable[tuple[Any, Trigger]],
        clock: Clock | None = None,
        catch_up: str = "all",
        source: str = "",
        start: Callable[[Fire], None] | None = None,
    ) -> None:
        if catch_up not in CATCH_UP:
            raise InvalidParameterError("Scheduler", "catch_up", catch_up, "Use 'all', 'latest' or 'none'.")
        self.journal = journal
        self.clock = clock or SystemClock()
        self.catch_up = catch_up
        self.start = start or self.start_run
        self._first_tick = True
        now = self.clock.now()
        self.started_at = now
        self.served: list[Served] = []
        for task, trig in triggers:
            _check_inputs(task, trig)
            key = trigger_key(task, trig)
            spec = json.dumps(trig.to_dict(), sort_keys=True, default=str)
            activated = journal.trigger_activate(key, task.name, trig.name, source, spec, now)
            self.served.append(Served(key, task, trig, activated))

    # ---- one pass -------------------------------------------------------------------------------
    def _policy(self, due: list[float]) -> tuple[list[float], list[float]]:
        """(fire, skip) among due occurrences. The newest one is on time if it came due after this
        scheduler started; the others were missed (no scheduler ran, or this one stalled)."""
        on_time = due[-1:] if due[-1] >= self.started_at else []
        missed = due[: len(due) - len(on_time)]
        if self.catch_up == "all":
            return due, []
        if self.catch_up == "latest" and not on_time:
            return missed[-1:], missed[:-1]
        return on_time, missed

    def _unstarted(self) -> list[Fire]:
        """Occurrences an earlier process journaled but did not see through: a run never started is
        started; a run interrupted (its process died) is recovered in place (its succeeded actions
        are kept); a run that ended, or runs in a live process, is left alone."""
        from flyte._runtime import reader

        left = []
        for s in self.served:
            for f in self.journal.trigger_fires(s.key):
                if f["status"] != STARTING:
                    continue
                fire = Fire(s.key, float(f["scheduled_at"]), f["run"], s)
                run = reader.get_run(f["run"], self.journal)
                if run is None:
                    left.append(fire)
                elif reader.effective_status(run) == "INTERRUPTED":
                    left.append(Fire(fire.key, fire.scheduled_at, fire.run, s, resume=True))
                elif run["status"] != "RUNNING":
                    self.journal.trigger_set_fire_status(s.key, f["scheduled_at"], STARTED)
        return sorted(left, key=lambda f: f.scheduled_at)

    def tick(self) -> list[Fire]:
        """Journal every occurrence due now, then start their runs; returns the fires started."""
        first, self._first_tick = self._first_tick, False
        now = self.clock.now()
        to_start = self._unstarted() if first else []
        for s in self.served:
            last = self.journal.trigger_last_scheduled(s.key)
            due = occurrences(s.automation, s.activated_at, last if last is not None else -1.0, now)
            if not due:
                continue
            fire, skip = self._policy(due)
            rows: list[tuple[float, str | None, str]] = [
                (t, run_name_for(s.key, s.trigger.name, t), STARTING) for t in fire
            ]
            rows += [(t, None, SKIPPED) for t in skip]
            added = set(self.journal.trigger_journal_fires(s.key, rows, now))
            to_start += [Fire(s.key, t, run, s) for t, run, _ in rows if run is not None and t in added]
            if skip:
                logger.info(
                    "trigger %s: skipped %d missed occurrence(s) (catch-up %s)",
                    s.key,
                    len(skip),
                    self.catch_up,
                )
        for f in to_start:
            self.start(f)
        return to_start

    def missed(self) -> dict[str, int]:
        """Occurrences that came due while no scheduler ran (before the first ``tick``)."""
        now = self.clock.now()
        out = {}
        for s in self.served:
            last = self.journal.trigger_last_scheduled(s.key)
            out[s.key] = len(
                occurrences(s.automation, s.activated_at, last if last is not None else -1.0, now)
            )
        return out

    def next_fires(self) -> dict[str, float]:
        now = self.clock.now()
        out = {}
        for s in self.served:
            last = self.journal.trigger_last_scheduled(s.key)
            out[s.key] = next_fire(s.automation, s.activated_at, max(now, last or now))
        return out

    # ---- starting runs --------------------------------------------------------------------------
    def start_run(self, fire: Fire) -> None:
        """Start the occurrence's run (and wait for it); a run that exists already is not started."""
        import flyte
        from flyte.errors import InitializationError

        trig = fire.served.trigger
        status = STARTED
        try:
            rc = flyte.with_runcontext(
                name=fire.run,
                env_vars=dict(trig.env_vars or {}),
                overwrite_cache=trig.overwrite_cache,
                max_action_concurrency=trig.max_action_concurrency,
                custom_context=dict(trig.custom_context or {}),
                notifications=trig.notifications,
            )
            inputs = trigger_inputs(trig, fire.scheduled_at)
            if fire.resume:
                from flyte._run import _start

                logger.info("trigger %s: recovering interrupted run %s", fire.key, fire.run)
                _start(rc, fire.served.task, (), inputs, recover=True)
            else:
                logger.info("trigger %s fired for %s: run %s", fire.key, _iso(fire.scheduled_at), fire.run)
                rc.start(fire.served.task, **inputs)
        except InitializationError as e:
            if getattr(e, "code", "") != "RunExists":
                logger.error("trigger %s: run %s did not start: %s", fire.key, fire.run, e)
                status = NOT_STARTED
        except Exception as e:  # bad inputs: the run could not start; recorded, the scheduler goes on
            logger.error("trigger %s: run %s did not start: %s", fire.key, fire.run, e)
            status = NOT_STARTED
        self.journal.trigger_set_fire_status(fire.key, fire.scheduled_at, status)

    def serve(self, stop: threading.Event, poll: float = 1.0, workers: int = 4) -> None:
        """Tick every ``poll`` seconds until ``stop`` is set; runs start on ``workers`` threads."""
        from flyte._notify.deliver import redeliver_pending

        redeliver_pending(self.journal)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flyte-trigger")
        run_one = self.start
        self.start = lambda f: pool.submit(run_one, f)  # type: ignore[method-assign,assignment,return-value]
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # e.g. the journal busy for longer than its timeout: try again
                    logger.exception("trigger pass failed; retrying in %.1fs", poll)
                stop.wait(poll)
        finally:
            self.start = run_one  # type: ignore[method-assign]
            pool.shutdown(wait=True)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")
