"""Which driver owns a running run, across hosts (issue 25): a heartbeat lease in the journal.

A driver takes the run's lease before it records the run's start (``Journal.run_lease_take``) and
renews it from a daemon thread every third of its TTL while the run executes; it deletes it at the
run's end. Another driver refuses the run while the lease is fresh. It takes the run over once the
lease expired (the owner died, froze or lost the journal for a whole TTL), or at once when the owner
ran on its own host in a process that no longer exists (what it can check without waiting).

``$FLYTE_RUN_LEASE_SECONDS`` sets the TTL (default 30 s). ``$FLYTE_HOST_ID`` names this machine in
the journal (default: the host name): hosts sharing one journal must have distinct names. Expiry
compares wall clocks of the hosts: keep them in sync (NTP) to well under a TTL.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import uuid

from flyte._runtime.journal import Journal, RunLease
from flyte.errors import InvalidParameterError

TTL_ENV = "FLYTE_RUN_LEASE_SECONDS"
HOST_ENV = "FLYTE_HOST_ID"
DEFAULT_TTL = 30.0
MIN_TTL = 0.5

log = logging.getLogger("flyte.run")


def host_id() -> str:
    """This machine's name in the journal: ``$FLYTE_HOST_ID``, else the host name."""
    return os.environ.get(HOST_ENV, "").strip() or socket.gethostname()


def run_lease_ttl() -> float:
    raw = os.environ.get(TTL_ENV, "").strip()
    if not raw:
        return DEFAULT_TTL
    try:
        ttl = float(raw)
    except ValueError:
        ttl = math.nan
    if not math.isfinite(ttl) or ttl < MIN_TTL:
        raise InvalidParameterError(
            "environment",
            TTL_ENV,
            raw,
            f"Set it to a number of seconds >= {MIN_TTL} (e.g. {TTL_ENV}=30), or unset it for 30 s.",
        )
    return ttl


def _holder_gone(host: str | None, pid: int | None) -> bool:
    """True when the holder ran on this host in a process that no longer exists (or is this one)."""
    if host != host_id() or not pid:
        return False
    if pid == os.getpid():
        return True  # an earlier execution in this process that did not release it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class RunOwnership:
    """This driver's lease on one run: taken, renewed by a heartbeat thread, released."""

    def __init__(self, journal: Journal, run: str) -> None:
        self.journal = journal
        self.run = run
        self.ttl = run_lease_ttl()
        self.owner = f"{host_id()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def take(self) -> RunLease | None:
        """None when this driver now owns the run, else the live holder's lease."""
        return self.journal.run_lease_take(
            self.run, self.owner, host_id(), os.getpid(), self.ttl, lambda h: _holder_gone(h.host, h.pid)
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"flyte-run-lease-{self.run}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self.journal.run_lease_renew(self.run, self.owner, self.ttl):
                    self.lost = True
                    log.warning("run %s: another driver took over its lease; this one goes on", self.run)
                    return
            except Exception as e:  # the journal unreachable for a moment: the next beat retries
                log.warning("run %s: could not renew its lease: %s", self.run, e)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.journal.run_lease_release(self.run, self.owner)
        except Exception as e:  # it expires by itself
            log.warning("run %s: could not release its lease: %s", self.run, e)
