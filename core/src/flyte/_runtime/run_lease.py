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
import time
import uuid
from collections.abc import Callable

from flyte._runtime.journal import Journal, RunLease
from flyte.errors import InvalidParameterError, RunOwnershipLostError

TTL_ENV = "FLYTE_RUN_LEASE_SECONDS"
HOST_ENV = "FLYTE_HOST_ID"
DEFAULT_TTL = 30.0
MIN_TTL = 0.5

log = logging.getLogger("flyte.run")


def host_id() -> str:
    """This machine's name in the journal: ``$FLYTE_HOST_ID``, else the host name."""
    return os.environ.get(HOST_ENV, "").strip() or socket.gethostname()


def seconds_from_env(var: str, default: float, minimum: float) -> float:
    """A TTL in seconds from ``$var`` (``default`` when unset); a bad value names the variable."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        ttl = float(raw)
    except ValueError:
        ttl = math.nan
    if not math.isfinite(ttl) or ttl < minimum:
        raise InvalidParameterError(
            "environment",
            var,
            raw,
            f"Set it to a number of seconds >= {minimum} (e.g. {var}=30), or unset it for {default:g} s.",
        )
    return ttl


def run_lease_ttl() -> float:
    """The run lease's TTL from ``$FLYTE_RUN_LEASE_SECONDS`` (30 when unset)."""
    return seconds_from_env(TTL_ENV, DEFAULT_TTL, MIN_TTL)


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
    """This driver's lease on one run: taken, renewed by a heartbeat thread, released; and the fence
    of the run's journal writes (``RunJournal.fence``).

    A driver whose lease was taken over (it froze or lost the journal for longer than the TTL, and
    another host recovered the run) must not act as the owner any more. Two checks make sure: the
    heartbeat, which finds the lease gone at its next beat, and each journal commit made once the
    lease is no longer surely this driver's (``trusted_until``: half a TTL after the last renewal,
    which leaves the other half for a late beat and clock skew), which checks the lease inside the
    write transaction. Either marks the ownership lost (``error``: a
    :class:`flyte.errors.RunOwnershipLostError` naming the new owner), after which every write of
    the run fails and ``on_lost`` (the driver: cancel the run's tasks) is called once."""

    def __init__(self, journal: Journal, run: str) -> None:
        self.journal = journal
        self.run = run
        self.ttl = run_lease_ttl()
        self.owner = f"{host_id()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.trusted_until = 0.0
        self.generation = 0  # PostgreSQL: the writer session that holds the run's lock
        self.error: RunOwnershipLostError | None = None
        self.on_lost: Callable[[], object] | None = None

    def take(self) -> RunLease | None:
        """None when this driver now owns the run, else the live holder's lease."""
        now = time.time()
        holder = self.journal.run_lease_take(
            self.run, self.owner, host_id(), os.getpid(), self.ttl, lambda h: _holder_gone(h.host, h.pid)
        )
        if holder is None:
            self.generation = getattr(self.journal.conn, "generation", 0)  # the session locking it
            self.trust(now)
        return holder

    def trust(self, renewed_at: float) -> None:
        """The lease was renewed at ``renewed_at``: no other driver can take it for a while."""
        self.trusted_until = max(self.trusted_until, renewed_at + self.ttl / 2)

    def lost(self, host: str | None, owner: str | None) -> RunOwnershipLostError:
        """Mark the run taken over (by ``owner`` on ``host``, None when its lease is gone): the error
        every later write raises; ``on_lost`` runs once."""
        if self.error is None:
            if host is None:
                who = "another driver took it over and has since released it"
            else:
                who = f"the driver on host {host!r} ({owner}) took it over and now owns it"
            self.error = RunOwnershipLostError(
                self.run,
                host,
                owner,
                f"run {self.run!r}: this driver ({self.owner}) lost the run's lease: {who}. Its lease"
                f" ({self.ttl:g} s, ${TTL_ENV}) expired while this driver was paused or cut off from the"
                " journal. This driver stopped its tasks and recorded nothing more; follow the run"
                f" where it now runs (`flyte runs show {self.run}`).",
            )
            log.error("%s", self.error)
            callback = self.on_lost
            if callback is not None:
                try:
                    callback()
                except Exception as e:  # the run already ended: nothing left to stop
                    log.debug("run %s: on_lost: %s", self.run, e)
        return self.error

    def confirm(self) -> None:
        """Raise the lost-lease error unless this driver surely still owns the run (checked in a
        writer transaction when the lease was not renewed lately): call before recording its end."""
        if self.error is not None:
            raise self.error
        if time.time() >= self.trusted_until:
            self.journal.commit([], self)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"flyte-run-lease-{self.run}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            now = time.time()
            try:
                if self.journal.run_lease_renew(self.run, self.owner, self.ttl):
                    self.trust(now)
                    continue
                successor = self.journal.run_lease_successor(self.run, self.owner)
            except Exception as e:  # the journal unreachable for a moment: the next beat retries
                log.warning("run %s: could not renew its lease: %s", self.run, e)
                continue
            if self._stop.is_set():  # released meanwhile (the run ended)
                return
            self.lost(successor[1] if successor else None, successor[0] if successor else None)
            return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.on_lost = None
        try:
            self.journal.run_lease_release(self.run, self.owner)
        except Exception as e:  # it expires by itself
            log.warning("run %s: could not release its lease: %s", self.run, e)
