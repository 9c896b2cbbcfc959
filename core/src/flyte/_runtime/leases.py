"""``Cache(serialize=True)`` across runs and processes: one caller computes a cache key, the rest wait.

The journal keeps one lease row per key being computed (``Journal.lease_try_acquire``). The owner's
process renews it from a heartbeat thread every third of its TTL, so the lease outlives any task
however long it runs, and expires within one TTL of the owner's process dying or freezing. A waiter
polls (backoff from 10 ms to 100 ms) until the entry appears (it reuses it), or the lease is free
(released after a failure: it computes), expired, or held by a process on this host that no longer
exists (it takes over at once, without waiting for the TTL).

The TTL is ``$FLYTE_CACHE_LEASE_SECONDS`` (default 30 s), read when a lease is taken.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flyte._runtime.journal import Journal, LeaseHolder, LeaseOwner
from flyte._runtime.run_lease import host_id, seconds_from_env

LEASE_ENV = "FLYTE_CACHE_LEASE_SECONDS"
DEFAULT_TTL = 30.0
MIN_TTL = 0.5
_POLL_FIRST, _POLL_MAX = 0.01, 0.1

log = logging.getLogger("flyte.cache")


def lease_ttl() -> float:
    """The lease TTL in seconds from ``$FLYTE_CACHE_LEASE_SECONDS`` (30 when unset)."""
    return seconds_from_env(LEASE_ENV, DEFAULT_TTL, MIN_TTL)


def _process_gone(holder: LeaseHolder) -> bool:
    """True when the holder ran on this host in a process that no longer exists (or is a zombie).

    Only a certain "gone" counts: another host, or a process we cannot see, waits for the TTL."""
    pid = holder.pid
    if not pid or holder.host != host_id() or pid == os.getpid():
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process there
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, owned by another user
        return False
    try:  # a killed child its parent has not reaped yet still answers kill(0)
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


@dataclass
class Lease:
    """A lease this process holds (renewed by the keeper until released)."""

    journal: Journal
    key: str
    owner: LeaseOwner
    ttl: float
    took_over: LeaseHolder | None = None

    def release(self, outcome: str) -> None:
        """Stop renewing and give the lease up, recording ``outcome`` (succeeded/failed/aborted).

        A journal failure here is only logged: the lease then expires within its TTL."""
        _keeper(self.journal).remove(self)
        try:
            self.journal.lease_release(self.key, self.owner.id, outcome)
        except Exception as e:  # the run's own error (if any) is what the user needs to see
            log.warning("could not release the cache lease %s: %s", self.key[:12], e)

    def release_with_entry(self) -> list[tuple[str, Sequence[Any]]]:
        """Stop renewing; the statements that release the lease in the transaction that writes the
        cache entry (so no reader sees the entry missing and the lease gone). Commit them promptly
        (within the TTL); if that commit fails, call :meth:`release`."""
        _keeper(self.journal).remove(self)
        return self.journal.lease_release_statements(self.key, self.owner.id, "succeeded")


class _Keeper:
    """One heartbeat thread per journal renews every lease this process holds."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.held: dict[tuple[str, str], Lease] = {}
        self.cv = threading.Condition()
        self.thread: threading.Thread | None = None
        self.interval = DEFAULT_TTL / 3

    def add(self, lease: Lease) -> None:
        with self.cv:
            self.held[(lease.key, lease.owner.id)] = lease
            if self.thread is None:
                self.interval = lease.ttl / 3
                self.thread = threading.Thread(target=self._run, name="flyte-cache-lease", daemon=True)
                self.thread.start()
            elif lease.ttl / 3 < self.interval:  # beat sooner; otherwise the next beat covers it
                self.interval = lease.ttl / 3
                self.cv.notify()

    def remove(self, lease: Lease) -> None:
        with self.cv:
            self.held.pop((lease.key, lease.owner.id), None)

    def _run(self) -> None:
        while True:
            with self.cv:
                self.cv.wait(self.interval)
                if not self.held:
                    self.thread = None
                    return
                self.interval = min(lease.ttl for lease in self.held.values()) / 3
                leases = [(k, o, lease.ttl) for (k, o), lease in self.held.items()]
            try:
                not_renewed = self.journal.lease_renew(leases)
            except Exception as e:  # a busy or failing journal: try again at the next beat
                log.warning("could not renew cache leases: %s", e)
                continue
            for key, owner_id in not_renewed:
                with self.cv:  # a lease released meanwhile left ``held`` before its row went
                    lost = self.held.pop((key, owner_id), None)
                if lost is None:
                    continue
                try:
                    self.journal.lease_lost(key, owner_id)
                except Exception:
                    pass
                log.warning(
                    "cache lease %s of %s expired and was taken over; this call still finishes, so the "
                    "task runs twice (raise %s if it outlives heartbeats)",
                    key[:12],
                    owner_id,
                    LEASE_ENV,
                )


_keepers: dict[int, _Keeper] = {}
_keepers_lock = threading.Lock()


def _keeper(journal: Journal) -> _Keeper:
    with _keepers_lock:
        k = _keepers.get(id(journal))
        if k is None or k.journal is not journal:
            k = _keepers[id(journal)] = _Keeper(journal)
        return k


async def acquire_or_reuse(
    journal: Journal, key: str, owner: LeaseOwner, max_age: float | None
) -> tuple[bytes | None, Lease | None]:
    """Wait until this caller may compute ``key`` (returns a held :class:`Lease`) or another caller's
    entry is there (returns its outputs). Every wait, reuse and takeover goes into the key's history."""
    ttl = lease_ttl()
    delay = _POLL_FIRST
    cap = min(_POLL_MAX, ttl / 4)
    waited_since: float | None = None
    while True:
        got = journal.lease_try_acquire(key, owner, ttl, max_age, _process_gone)
        if got.outcome == "acquired":
            lease = Lease(journal, key, owner, ttl, took_over=got.holder)
            _keeper(journal).add(lease)
            return None, lease
        if got.outcome == "hit":
            if waited_since is not None:
                journal.lease_note(
                    key,
                    "reused",
                    owner,
                    other_run=got.source_run,
                    detail=f"waited {time.time() - waited_since:.3f}s; entry of action {got.source_action}",
                )
            return got.outputs, None
        if waited_since is None:
            waited_since = time.time()
            holder = got.holder
            journal.lease_note(
                key, "waiting", owner, holder.run if holder else None, holder.owner if holder else None
            )
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, cap)
