"""Machine limits for process-mode actions: memory (a watcher killing workers above their limit) and
CPU (a weighted budget so the sum of running actions' CPU requests stays within the machine).

Memory: ``RLIMIT_AS`` is useless with Python (thread stacks, arenas and CUDA reserve address space
they never touch), so the limit is enforced on what the kernel says is resident: a thread samples each
busy worker's RSS (``/proc/<pid>/statm``, psutil elsewhere) every 20 ms and SIGKILLs a worker above
its limit. A ``RLIMIT_DATA`` safety net (twice the limit, at least +256 MiB) set inside the worker
stops a single huge allocation that would outrun the sampler; it surfaces there as ``MemoryError``.
Both become ``flyte.errors.OOMError`` naming the limit and the peak.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

MiB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "?"
    if n >= 1024 * MiB:
        return f"{n / (1024 * MiB):.2f} GiB"
    return f"{n / MiB:.0f} MiB"


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process, or None when it is gone (or unknown on this platform)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        import psutil  # type: ignore[import-untyped]

        return int(psutil.Process(pid).memory_info().rss)
    except Exception:
        return None


def peak_rss_self() -> int | None:
    """This process's RSS high-water mark (since the last :func:`reset_peak_self`)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except Exception:
        return None


_RSS_UNIT = 1 if sys.platform == "darwin" else 1024
try:
    import resource as _resource  # not on Windows
except ImportError:  # pragma: no cover
    _resource = None  # type: ignore[assignment]


def maxrss_self() -> int | None:
    """This process's RSS high-water mark in bytes from ``getrusage`` (one system call, no file);
    Linux resets it with :func:`reset_peak_self` too. Called before every memory-limited action in
    a worker (issue 20: no import statement, no platform test per call)."""
    try:
        return int(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss) * _RSS_UNIT
    except Exception:
        return None


PEAK_SLACK = 16 * MiB
"""A memory-limited action skips the reset of the high-water mark while it grew less than this."""


def reset_peak_self() -> None:
    """Start a new RSS high-water mark (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    try:  # os-level: this runs before every memory-limited action in a worker (3 system calls)
        fd = os.open("/proc/self/clear_refs", os.O_WRONLY)
        try:
            os.write(fd, b"5")
        finally:
            os.close(fd)
    except OSError:
        pass


def set_data_limit(limit: int | None) -> None:
    """The worker's safety net: cap the data segment well above the limit the watcher enforces."""
    try:
        import resource
    except ImportError:
        return
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        soft = hard if limit is None else max(2 * limit, limit + 256 * MiB)
        if hard != resource.RLIM_INFINITY and soft > hard:
            soft = hard
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
    except (ValueError, OSError):
        pass


def local_cpus() -> float:
    """CPUs this process may use (its affinity mask where the platform has one)."""
    try:
        return float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return float(os.cpu_count() or 1)


def _statm_rss(fds: dict[int, int], pid: int) -> int | None:
    """:func:`rss_bytes` from a ``/proc/PID/statm`` kept open: one ``pread`` per sample instead of an
    open, reads and a close (the watcher samples every worker 50 times a second). The open file stays
    bound to that process: once it is gone the read fails, even if its pid is reused."""
    fd = fds.get(pid)
    if fd is None:
        try:
            fd = fds[pid] = os.open(f"/proc/{pid}/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return None
        except OSError:
            return rss_bytes(pid)  # no /proc here
    try:
        return int(os.pread(fd, 256, 0).split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        os.close(fds.pop(pid))  # gone: a new process with this pid is opened afresh next time
        return None


class Watched:
    """A worker process under a memory limit; ``killed`` is set (limit, rss) before the kill."""

    __slots__ = ("killed", "limit", "peak", "pid")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.limit: int | None = None
        self.peak = 0
        self.killed: tuple[int, int] | None = None


class MemoryWatch:
    """One daemon thread sampling every watched worker's RSS; kills those above their limit."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.targets: dict[int, Watched] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, pid: int) -> Watched:
        w = self.targets.setdefault(pid, Watched(pid))
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="flyte-memwatch", daemon=True)
            self._thread.start()
        return w

    def remove(self, pid: int) -> None:
        self.targets.pop(pid, None)

    def _loop(self) -> None:
        fds: dict[int, int] = {}  # pid -> open /proc/PID/statm: owned by this thread only
        try:
            while not self._stop.wait(self.interval):
                self._sample(fds)
        finally:
            for fd in fds.values():
                os.close(fd)

    def _sample(self, fds: dict[int, int]) -> None:
        targets = self.targets
        for pid in [p for p in fds if p not in targets]:
            os.close(fds.pop(pid))
        for w in list(targets.values()):
            limit = w.limit
            if limit is None or w.killed is not None:
                continue
            rss = _statm_rss(fds, w.pid)
            if rss is None:
                continue
            if rss > w.peak:
                w.peak = rss
            if rss > limit:
                w.killed = (limit, rss)
                try:
                    os.kill(w.pid, signal.SIGKILL)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()


class CpuBudget:
    """A weighted FIFO semaphore over CPU cores: running actions' requests never exceed ``total``."""

    def __init__(self, total: float) -> None:
        self.total = total
        self.used = 0.0
        self._waiters: collections.deque[tuple[float, Any]] = collections.deque()

    def weight(self, request: float | None, share: int = 1) -> float:
        """What one action holds: its request (1 core when unset), split across a replica's slots."""
        w = (1.0 if request is None or request <= 0 else float(request)) / max(1, share)
        return min(w, self.total)

    def available(self, n: float) -> bool:
        """Whether ``acquire(n)`` would be granted now, without waiting."""
        return not self._waiters and self.used + n <= self.total + 1e-9

    def try_acquire(self, n: float) -> bool:
        """``acquire(n)`` when it would not wait (True), without a coroutine; else nothing (False)."""
        if not self._waiters and self.used + n <= self.total + 1e-9:  # available(n), inlined (per action)
            self.used += n
            return True
        return False

    async def acquire(self, n: float) -> None:
        if self.available(n):
            self.used += n
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (n, fut)
        self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(n)  # granted and cancelled in the same breath: give it back
            else:
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    pass
                self._wake()
            raise

    def enqueue(self, n: float, grant: Callable[[], None]) -> tuple[float, Any]:
        """Wait for ``n`` without a future or a coroutine: ``grant()`` is called once ``n`` is taken
        for it, from the ``release`` that freed it (FIFO with ``acquire``'s waiters). ``drop`` the
        returned entry to stop waiting."""
        entry = (n, grant)
        self._waiters.append(entry)
        return entry

    def head(self) -> Any:
        """The first waiter (a future or a grant callback), or None: what ``release`` would serve next."""
        return self._waiters[0][1] if self._waiters else None

    def take_head(self) -> None:
        """Remove the first waiter without granting it anything (it was given a share another way:
        see ``pool.WorkerManager._prefetch``)."""
        self._waiters.popleft()

    def push_front(self, entry: tuple[float, Any]) -> None:
        """Put an ``enqueue`` entry back at the head (a waiter taken by ``take_head`` that returns to
        its place); ``release(0)`` then grants what is free."""
        self._waiters.appendleft(entry)

    def drop(self, entry: tuple[float, Any]) -> None:
        try:
            self._waiters.remove(entry)
        except ValueError:
            return
        self._wake()

    def release(self, n: float) -> None:
        used = self.used - n
        self.used = used if used > 0.0 else 0.0
        if self._waiters:  # (nothing to wake otherwise: no call per action)
            self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters:
            n, waiter = waiters[0]
            is_fut = isinstance(waiter, asyncio.Future)
            if is_fut and waiter.done():
                waiters.popleft()
                continue
            if self.used + n > self.total + 1e-9:
                return
            waiters.popleft()
            self.used += n
            if is_fut:
                waiter.set_result(None)
            else:
                waiter()  # sends a queued action (see pool.WorkerManager._granted); it never raises

    def describe(self) -> str:
        return f"cpus {self.used:g}/{self.total:g}"
