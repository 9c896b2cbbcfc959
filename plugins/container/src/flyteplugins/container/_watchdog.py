"""Stops a ContainerTask's container whose driver is gone for good (issue 23); runs on the host.

``python _watchdog.py RUNTIME CONTAINER FOLDER GRACE``, started by the driver in its own session so it
outlives a killed driver. The user's image may have neither Python nor a shell, so the watch cannot
live in the container: this process polls the mtime of ``FOLDER/driver-beat`` (touched by whichever
driver waits for the container) and, once it is older than GRACE seconds, writes why to
``FOLDER/orphaned.txt`` and stops the container. It exits when FOLDER is gone (the driver finished
and cleaned up) or after stopping. Standard library only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

BEAT = "driver-beat"  # as in flyte._runtime.placement.adopt
ORPHANED = "orphaned.txt"
STOP_SECONDS = 2


def _stop(runtime: str, name: str) -> str | None:
    """ "stopped", "gone" (it had ended already) or None (the runtime failed: try again later)."""
    try:
        stop = subprocess.run(
            [runtime, "stop", "--time", str(STOP_SECONDS), name], capture_output=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if stop.returncode == 0:
        return "stopped"
    said = (stop.stdout + stop.stderr).decode(errors="replace").lower()
    return "gone" if "no such container" in said or "no container with" in said else None


def main(runtime: str, name: str, folder: str, grace: float) -> int:
    beat = os.path.join(folder, BEAT)
    note = os.path.join(folder, ORPHANED)
    step = min(1.0, max(0.05, grace / 10))
    last = time.time()
    while True:
        time.sleep(step)
        if not os.path.isdir(folder):
            return 0  # the driver finished with the container and removed its folder
        try:
            last = os.path.getmtime(beat)
        except OSError:
            pass
        if time.time() - last <= grace:
            continue
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(last))
        why = (
            f"no driver has waited for it since {since}: its driver stopped and none came back within "
            f"the grace period of {grace:g}s (FLYTE_ORPHAN_GRACE_SECONDS); the container was stopped"
        )
        try:
            with open(note, "w", encoding="utf-8") as f:  # first: a driver adopting it meanwhile knows why
                f.write(why + "\n")
        except OSError:
            return 0  # the folder went away meanwhile
        got = _stop(runtime, name)
        while got is None:
            time.sleep(max(step, 1.0))
            got = _stop(runtime, name)
        if got == "gone":  # it ended by itself while no driver ran: nothing was stopped
            try:
                os.remove(note)
            except OSError:
                pass
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
