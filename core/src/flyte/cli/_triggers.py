"""``flyte triggers serve FILE`` (fire a file's Cron/FixedRate triggers) and ``flyte triggers list``."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click


def _journal() -> Any:
    from flyte._config import get_settings
    from flyte._runtime.journal import open_journal

    return open_journal(get_settings().journal_path)


def _iso(t: float | None) -> str:
    if t is None or math.isinf(t):
        return "-"
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@click.group()
def triggers() -> None:
    """Triggers of your tasks: fire them on this machine (serve), see their fires (list)."""


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    for name in ("flyte.triggers", "flyte.notify"):
        lg = logging.getLogger(name)
        lg.setLevel(logging.INFO)
        lg.addHandler(handler)


def make_scheduler(file: str, module: Any, catch_up: str, time_scale: float) -> Any:
    """The scheduler of ``module``'s Cron/FixedRate triggers (``time_scale`` != 1: a faster clock
    whose origin is kept in the journal, so a restart continues the same timeline)."""
    from flyte._triggers.scheduler import Clock, ScaledClock, Scheduler, SystemClock, scheduled_triggers

    if time_scale <= 0:
        raise click.BadParameter(
            "use a positive factor, e.g. 60 (a minute per second)", param_hint="--time-scale"
        )
    found = scheduled_triggers(module)
    if not found:
        raise click.UsageError(f"{file} has no task with a Cron or FixedRate trigger (auto_activate=True)")
    journal = _journal()
    clock: Clock = SystemClock()
    if time_scale != 1.0:
        origin = float(journal.trigger_meta("clock_origin", repr(time.time())))
        clock = ScaledClock(origin, time_scale)
    return Scheduler(journal, found, clock=clock, catch_up=catch_up, source=file)


def _announce(sched: Any, file: str, catch_up: str) -> None:
    missed = sched.missed()
    for key, at in sched.next_fires().items():
        late = f"; {missed[key]} missed occurrence(s), catch-up {catch_up}" if missed.get(key) else ""
        click.echo(f"serving {key}: next fire {_iso(at)}{late}")
    click.echo(f"flyte triggers: {len(sched.served)} trigger(s) from {file} (catch-up {catch_up})")
    sys.stdout.flush()


def start_in_background(file: str, module: Any, poll: float = 1.0) -> Callable[[], None]:
    """``flyte serve FILE --triggers``: the scheduler on a thread; returns the function that stops it.
    Catch-up and clock come from FLYTE_TRIGGERS_CATCH_UP and FLYTE_TRIGGERS_TIME_SCALE."""
    catch_up = os.environ.get("FLYTE_TRIGGERS_CATCH_UP", "all")
    _log_to_stderr()
    sched = make_scheduler(file, module, catch_up, float(os.environ.get("FLYTE_TRIGGERS_TIME_SCALE", "1")))
    _announce(sched, file, catch_up)
    stop = threading.Event()
    thread = threading.Thread(target=sched.serve, args=(stop, poll), name="flyte-triggers", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(60)

    return halt


@triggers.command("serve")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--catch-up",
    type=click.Choice(["all", "latest", "none"]),
    default="all",
    show_default=True,
    envvar="FLYTE_TRIGGERS_CATCH_UP",
    help="Occurrences missed while no scheduler ran: fire each, only the latest, or none.",
)
@click.option("--poll", default=1.0, show_default=True, help="Seconds between checks.")
@click.option("--workers", default=4, show_default=True, help="Runs that may execute at once.")
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    envvar="FLYTE_TRIGGERS_TIME_SCALE",
    help="Run the schedule's clock this many times faster (demos, tests); kept across restarts.",
)
def serve(file: str, catch_up: str, poll: float, workers: int, time_scale: float) -> None:
    """Start runs of FILE's tasks at the times of their Cron and FixedRate triggers, until stopped.

    Each occurrence is journaled before its run starts: a scheduler killed and started again fires
    every missed occurrence once (per --catch-up), never twice. `flyte serve FILE --triggers` does
    the same next to FILE's app.
    """
    import flyte
    from flyte._run import import_module_from_file

    flyte.init_from_config()
    _log_to_stderr()
    module = import_module_from_file(file)
    sched = make_scheduler(file, module, catch_up, time_scale)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _announce(sched, file, catch_up)
    sched.serve(stop, poll=poll, workers=workers)


@triggers.command("list")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--limit", default=10, show_default=True, help="Past fires shown per trigger.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(file: str | None, limit: int, as_json: bool) -> None:
    """Triggers served on this machine: their next fire time and past fires with their runs.

    With FILE, also its Cron/FixedRate triggers not served yet (next fire: if served from now).
    """
    from flyte._triggers.schedule import next_fire
    from flyte._triggers.scheduler import automation_from_dict, scheduled_triggers, trigger_key

    j = _journal()
    now = time.time()
    out = []
    for st in j.trigger_states():
        spec = json.loads(st["spec"] or "{}")
        automation = automation_from_dict(spec.get("automation"))
        fires = j.trigger_fires(st["key"], limit=limit)
        last = max((f["scheduled_at"] for f in fires), default=None)
        nxt = None
        if automation is not None:
            nxt = next_fire(automation, st["activated_at"], max(now, last or now))
        out.append(
            {
                "key": st["key"],
                "task": st["task_name"],
                "trigger": st["trigger_name"],
                "source": st["source"],
                "automation": spec.get("automation"),
                "activated_at": st["activated_at"],
                "next_fire": None if nxt is None or math.isinf(nxt) else nxt,
                "fires": fires,
            }
        )
    if file is not None:
        from flyte._run import import_module_from_file
        from flyte._trigger import Cron, FixedRate

        known = {t["key"] for t in out}
        for task, trig in scheduled_triggers(import_module_from_file(file)):
            key, auto = trigger_key(task, trig), trig.automation
            if key in known or not isinstance(auto, (Cron, FixedRate)):
                continue
            nxt = next_fire(auto, now, now)
            entry = {"key": key, "task": task.name, "trigger": trig.name, "source": file}
            out.append(
                {**entry, "automation": auto.to_dict(), "activated_at": None, "next_fire": nxt, "fires": []}
            )
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    if not out:
        click.echo(
            "no triggers served yet: flyte triggers serve FILE (flyte triggers list FILE: what it declares)"
        )
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for t in out:
        served = "" if t["activated_at"] is not None else "  (not served yet)"
        console.print(
            f"[bold]{t['key']}[/]  {json.dumps(t['automation'])}  next fire: {_iso(t['next_fire'])}{served}"
        )
        table = Table("scheduled", "fired", "status", "run", "run status")
        for f in t["fires"]:
            table.add_row(
                _iso(f["scheduled_at"]),
                _iso(f["fired_at"]),
                f["status"],
                f["run"] or "-",
                f["run_status"] or "-",
            )
        console.print(table)
