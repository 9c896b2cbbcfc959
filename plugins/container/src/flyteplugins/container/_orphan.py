"""The driver's side of the orphan grace for containers (issue 23).

While a driver waits for a container of a run it touches ``driver-beat`` in the container's host
folder (:func:`flyte.extend.beat_while_waiting`). A Python task's bootstrap watches that beat inside
the container; a ContainerTask's image may have no Python or shell, so a small host process
(``_watchdog.py``, in its own session so it outlives the driver) watches it and stops the container.
Either way a container whose driver is gone for good stops after ``FLYTE_ORPHAN_GRACE_SECONDS`` and
leaves ``orphaned.txt``; the driver that recovers the run reads it, warns and runs the action again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from flyte.extend import orphan_grace, orphan_note
from flyteplugins.container import _engine

GRACE_ENV = "FLYTE_ORPHAN_GRACE_SECONDS"
ORPHANED = "orphaned.txt"  # flyte._runtime.placement.adopt.ORPHANED_NOTE
EXIT_ORPHANED = 4  # the bootstrap's exit status when it stopped itself
_WATCHDOG = Path(__file__).with_name("_watchdog.py")


def grace_env() -> dict[str, str]:
    """The grace period for the container's bootstrap (none when 0: the watch is off)."""
    grace = orphan_grace()
    return {GRACE_ENV: repr(grace)} if grace > 0 else {}


def take_note(folder: str, task: str, action_id: str, what: str) -> str | None:
    """Why the container on ``folder`` stopped itself, or None. When it did: a warning (the action
    runs again, a system retry, not the task's failure) and the note goes (the next try starts clean)."""
    why = orphan_note(folder)
    if why is None:
        return None
    warnings.warn(
        f"The {what} that ran {task!r} (action {action_id[:12]}) before the driver stopped left no "
        f"result ({why}); running it again (a system retry).",
        RuntimeWarning,
        stacklevel=3,
    )
    try:
        os.remove(os.path.join(folder, ORPHANED))
    except OSError:
        pass
    return why


def stopped_error(folder: str, task: str) -> Exception | None:
    """The error of a container stopped for want of a driver while this driver still ran (its beat
    stalled longer than the grace period, e.g. a blocked event loop or a suspended machine)."""
    why = orphan_note(folder)
    if why is None:
        return None
    from flyte.errors import RuntimeSystemError

    return RuntimeSystemError(
        "ContainerOrphaned",
        f"Task {task!r}: its container stopped because the driver's beat stalled ({why}); "
        f"raise {GRACE_ENV} if the driver can be busy for that long",
    )


def spawn_watchdog(runtime: str, name: str, folder: str) -> subprocess.Popen[bytes] | None:
    """The host watch of a ContainerTask's container (None when the grace is off)."""
    grace = orphan_grace()
    if grace <= 0:
        return None
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(_WATCHDOG), runtime, name, folder, repr(grace)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a signal to the driver's process group spares it
        close_fds=True,
    )


def end_watchdog(proc: subprocess.Popen[bytes] | None) -> None:
    """The driver saw its container through: its watch ends now (not at its next poll)."""
    if proc is None or proc.poll() is not None:
        return
    proc.kill()
    proc.wait()


async def adopt_unless_orphaned(
    rt: Any,
    name: str,
    sink: _engine.LogSink,
    ctx: Any,
    *,
    task: str,
    folder: str,
    result_path: str | None,
    orphan_exit: int | None,
    stopped: str,
) -> _engine.ContainerResult | None:
    """A crashed driver's container of this attempt, followed to its end (or its result file used);
    None: start one (nothing there, or it was stopped for want of a driver: the action runs again).

    The two callers differ only in what they pass. ``folder``: where ``orphaned.txt`` lands.
    ``result_path``: the file a Python task's bootstrap writes (None for a ContainerTask).
    ``orphan_exit``: the one exit status an orphan stop gives (a Python task's bootstrap exits
    :data:`EXIT_ORPHANED`); None when any non-zero status may be one (a ContainerTask stopped by its
    host watchdog). ``stopped``: how the log says it stopped ("stopped itself", "was stopped").
    """
    why = take_note(folder, task, ctx.action_id, "container")
    if why is None:
        result = await _engine.adopt(rt, name, sink, result_path, ctx)
        if result is None or result.exit_code == 0:
            return result
        lost = result.exit_code == _engine.EXIT_UNKNOWN  # it may have been an orphan stop too
        if orphan_exit is not None and result.exit_code != orphan_exit and not lost:
            return result  # a failure of its own, not an orphan stop
        why = take_note(folder, task, ctx.action_id, "container")  # stopped while we followed it
        if why is None:
            if not lost or (result_path is not None and os.path.exists(result_path)):
                return result
            # Neither an exit status nor a result to trust (as for one that ended while no driver ran).
            sink.note(f"container {name} ended with its exit status lost; running the action again")
            return None
    sink.note(f"container {name} {stopped} ({why}); running the action again")
    await _engine.discard(rt, name)
    return None
