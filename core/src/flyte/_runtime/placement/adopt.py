"""Worker actions that outlive their driver, and their adoption by a recovered driver (issue 23).

A worker records, for each action it runs:

- a claim before the body starts: its pid and the attempt ("I run this");
- the outcome when the body ends (signed pickle of ``(ok, payload, peak)``): the result the driver
  would have received over the socket;
- ``worker-orphaned.json`` in the action's folder instead, when no driver adopted it within the grace
  period and it stopped.

On this machine's store, claims and outcomes are records appended to one file per worker process,
``worker-claims/PID.log`` under the run's folder (:class:`ClaimLog`): one ``write`` each, where a file
per action cost a folder, two opens and two renames (issue 20). Adoption guards against the driver's
crash, not the machine's, so what the kernel holds of an append is enough (no fsync). On other stores
they are files in the action's folder: ``worker-lease.json`` and ``worker-outcome.pkl``.

A driver recovering the run (``flyte rerun RUN --recover``) looks at an action recorded RUNNING
before starting it again: an outcome -> used; a live lease -> adopted (it waits for the outcome and
writes ``worker-adopter.json`` as a heartbeat, which keeps the orphan from stopping); otherwise the
action runs again (the dead worker is a system failure, not the task's).
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import time
import warnings
from collections.abc import Callable
from typing import Any

from flyte._runtime.codec import pickle_key, sign_pickle, signer
from flyte._runtime.store import join

LEASE = "worker-lease.json"
OUTCOME = "worker-outcome.pkl"
ORPHANED = "worker-orphaned.json"
ADOPTER = "worker-adopter.json"
DRIVER_BEAT = "driver-beat"
"""In a container's or pod's host folder: touched by the driver while it waits (the mtime is the beat)."""
ORPHANED_NOTE = "orphaned.txt"
"""Beside the beat: why the container or pod stopped itself (no beat within the grace period)."""
EXIT_ORPHANED = 4
"""The exit status of a container or pod entrypoint that stopped itself for want of a driver."""


def orphan_grace() -> float:
    """Seconds an orphaned worker keeps running without a driver ($FLYTE_ORPHAN_GRACE_SECONDS, 1 h)."""
    raw = os.environ.get("FLYTE_ORPHAN_GRACE_SECONDS", "3600")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 3600.0


def beat_interval() -> float:
    """How often a driver beats: a quarter of the grace period, between 0.2 s and 5 s."""
    return max(0.2, min(5.0, orphan_grace() / 4))


def touch_beat(folder: str) -> None:
    """The driver still waits for what runs on ``folder`` (a host folder seen by a container/pod)."""
    path = os.path.join(folder, DRIVER_BEAT)
    try:
        with open(path, "a"):
            pass
        os.utime(path)
    except OSError:
        pass  # the folder is gone: its container is being removed


async def beat_while_waiting(folder: str) -> None:
    """Touch the beat of ``folder`` every :func:`beat_interval` seconds until cancelled."""
    every = beat_interval()
    while True:
        touch_beat(folder)
        await asyncio.sleep(every)


def orphan_note(folder: str) -> str | None:
    """Why the container or pod on ``folder`` stopped itself (None: it did not)."""
    try:
        with open(os.path.join(folder, ORPHANED_NOTE), encoding="utf-8") as f:
            return f.read().strip() or "it stopped itself for want of a driver"
    except OSError:
        return None


def _uri(prefix: str, action_id: str, name: str) -> str:
    return join(prefix, action_id, name)


def _read(store: Any, uri: str) -> bytes | None:
    try:
        if not store.exists(uri):
            return None
        data: bytes = store.get_bytes(uri)
        return data
    except Exception:
        return None


def _remove(store: Any, uri: str) -> None:
    from flyte._runtime.store import uri_to_path

    if uri.startswith("file://"):
        try:
            os.remove(uri_to_path(uri))
        except OSError:
            pass
    elif _read(store, uri) is not None:
        store.put_bytes(uri, b"")  # no delete in the store protocol: an empty file reads as absent


# ---- worker side ----------------------------------------------------------------------------------
def _put(store: Any, uri: str, data: bytes) -> None:
    """A small claim/outcome file, atomically. On this machine's store: open, write, rename (the
    action's folder is made only when missing), about half the system calls of ``put_bytes``; a
    worker writes two of these per action, so this is on the per-action path (issue 20)."""
    if not uri.startswith("file://"):
        store.put_bytes(uri, data)
        return
    from flyte._runtime.store import uri_to_path

    path = uri_to_path(uri)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".tmp-{name}.{_own_pid()}")  # one writer per action: its worker
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileNotFoundError:
        try:
            os.mkdir(folder)  # the action's folder, under the run's (which exists): one call
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
        except FileExistsError:
            pass
        fd = os.open(tmp, flags, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def write_lease(store: Any, prefix: str, action_id: str, attempt: int, *, fresh: bool = False) -> None:
    """Before the body: a fresh claim (an outcome or orphan note of an earlier attempt goes).

    ``fresh``: the controller knows no earlier try of this action wrote anything (first attempt,
    first try, not a recovery), so there is nothing to remove."""
    if not fresh:
        _remove(store, _uri(prefix, action_id, OUTCOME))
        _remove(store, _uri(prefix, action_id, ORPHANED))
    pid = _own_pid()
    lease = {"pid": pid, "attempt": attempt, "started": time.time(), "proc": _own_start(pid)}
    _put(store, _uri(prefix, action_id, LEASE), json.dumps(lease).encode())


_own: tuple[int, str | None] | None = None


def _own_pid() -> int:
    """This process's pid, without a system call per action (re-read after a fork)."""
    return _own[0] if _own is not None else os.getpid()


def _own_start(pid: int) -> str | None:
    """:func:`_proc_start` of this process, read once (it does not change)."""
    global _own
    if _own is None or _own[0] != pid:
        _own = (pid, _proc_start(pid))
    return _own[1]


def _forget_own() -> None:
    global _own
    _own = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_own)


CLAIMS = "worker-claims"
_REC = 5  # a record: 4-byte length of the body, 1-byte kind, the body


class ClaimLog:
    """A worker's claims and outcomes (see the module docstring); one writer: the worker's loop.

    Records: ``H`` (json pid and start time: whose claims follow), ``C`` (json action, attempt,
    start), ``O`` (2-byte length, action ID, signed pickle of the outcome), ``D`` (action ID: cancelled,
    no outcome to wait for). A record cut short by the worker's death is ignored by readers.

    An outcome whose result the worker also sends to a live driver may be *held* (``hold=True``):
    it goes out in the same ``write`` as the worker's next record (its next claim: one system call
    per action instead of two, issue 20), or at :meth:`flush`, which the worker calls first thing
    when its driver goes (end of file on its socket) and before it exits. The record is only read
    by a driver recovering from the death of the one that got the result over the socket; while
    the worker lives that driver finds the claim of a live worker and waits for the outcome, which
    the worker writes as soon as it sees its driver gone. If the worker dies too, the result was
    never acknowledged (the driver died before recording it), and the action runs again."""

    def __init__(self, store: Any, prefix: str) -> None:
        self.store = store
        self.prefix = prefix
        self.local = prefix.startswith("file://")
        self.fd: int | None = None
        self.sign: Callable[[bytes], bytes] | None = None  # signs outcomes; its key read once
        self.held = b""  # outcome records not written yet (see the class docstring)

    def _append(self, kind: bytes, body: bytes) -> None:
        if self.fd is None:
            self._open()
        assert self.fd is not None
        data = len(body).to_bytes(4, "big") + kind + body
        if self.held:
            data = self.held + data
            self.held = b""
        n = os.write(self.fd, data)
        if n < len(data):  # a short write (rare): the rest
            view = memoryview(data)[n:]
            while view:
                view = view[os.write(self.fd, view) :]

    def _open(self) -> None:
        from flyte._runtime.store import uri_to_path

        folder = uri_to_path(join(self.prefix, CLAIMS))
        os.makedirs(folder, exist_ok=True)
        pid = _own_pid()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self.fd = os.open(os.path.join(folder, f"{pid}.log"), flags, 0o644)
        self._append(b"H", json.dumps({"pid": pid, "proc": _own_start(pid)}).encode())

    def claim(self, action_id: str, attempt: int, *, fresh: bool = False) -> None:
        if not self.local:
            write_lease(self.store, self.prefix, action_id, attempt, fresh=fresh)
            return
        if not fresh:  # an orphan note of an earlier try goes (its claim is superseded by this one)
            _remove(self.store, _uri(self.prefix, action_id, ORPHANED))
        ns = time.time_ns()
        if action_id.isalnum() and action_id.isascii() and type(attempt) is int:
            # The JSON written directly: the start in seconds from integers (repr of a float, and the
            # encoder, were a tenth of a small action's work in its worker; issue 20)
            body = f'{{"a":"{action_id}","attempt":{attempt},"started":{ns // 10**9}.{ns % 10**9:09d}}}'
        else:
            from flyte._runtime.codec import _prim_dumps

            body = _prim_dumps({"a": action_id, "attempt": attempt, "started": ns / 1e9})
        self._append(b"C", body.encode())

    def outcome(self, action_id: str, ok: bool, payload: Any, peak: int | None, hold: bool = False) -> None:
        """The outcome of an action claimed before; ``hold``: written with the next record or at
        :meth:`flush` (see the class docstring)."""
        if not self.local:
            write_outcome(self.store, self.prefix, action_id, ok, payload, peak)
            return
        sign = self.sign
        if sign is None:  # the key this worker was started with: the driver's (its environment)
            sign = self.sign = signer(pickle_key())
        aid = action_id.encode()
        signed = sign(pickle.dumps((ok, payload, peak), protocol=5))
        body = len(aid).to_bytes(2, "big") + aid + signed
        if hold and self.fd is not None:
            self.held += len(body).to_bytes(4, "big") + b"O" + body
        else:
            self._append(b"O", body)

    def flush(self) -> None:
        """Write the held outcomes now (the driver went, or the worker is about to exit)."""
        if self.held and self.fd is not None:
            data, self.held = self.held, b""
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]

    def drop(self, action_id: str) -> None:
        if not self.local:
            drop_lease(self.store, self.prefix, action_id)
            return
        self._append(b"D", action_id.encode())


class _LogState:
    """What one worker's log says so far; ``offset``: where the next unread record starts."""

    __slots__ = ("claims", "header", "inode", "offset")

    def __init__(self, inode: int = 0) -> None:
        self.inode = inode  # a log removed and made again (the run's folder deleted) is read afresh
        self.offset = 0
        self.header: dict[str, Any] = {}
        # action ID -> [lease (claim + pid + proc), outcome location (offset, length) or None]
        self.claims: dict[str, list[Any]] = {}


class _ClaimIndex:
    """A driver's reading of a run's worker logs, incremental (each call reads only new records)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.logs: dict[str, _LogState] = {}

    def refresh(self) -> None:
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            if name.endswith(".log"):
                st = self.logs.get(name)
                if st is None:
                    st = self.logs[name] = _LogState()
                self._read(os.path.join(self.folder, name), st)

    @staticmethod
    def _read(path: str, st: _LogState) -> None:
        try:
            with open(path, "rb") as f:
                stat = os.fstat(f.fileno())
                if stat.st_ino != st.inode or stat.st_size < st.offset:
                    st.__init__(stat.st_ino)  # type: ignore[misc]
                f.seek(st.offset)
                data = f.read()
        except OSError:
            return
        pos = 0
        while len(data) - pos >= _REC:
            n = int.from_bytes(data[pos : pos + 4], "big")
            end = pos + _REC + n
            if end > len(data):
                break  # being written, or cut short by the worker's death
            kind, body = data[pos + 4 : pos + 5], data[pos + _REC : end]
            try:
                if kind == b"H":
                    st.header = json.loads(body)
                elif kind == b"C":
                    rec = json.loads(body)
                    lease = {"pid": st.header.get("pid", 0), "proc": st.header.get("proc"), **rec}
                    st.claims[rec["a"]] = [lease, None]
                elif kind == b"O":
                    k = int.from_bytes(body[:2], "big")
                    got = st.claims.get(body[2 : 2 + k].decode())
                    if got is not None:
                        got[1] = (st.offset + pos + _REC + 2 + k, n - 2 - k)
                elif kind == b"D":
                    st.claims.pop(body.decode(), None)
            except (ValueError, KeyError, UnicodeDecodeError):
                pass  # a damaged record: its action runs again
            pos = end
        st.offset += pos

    def lookup(self, action_id: str) -> tuple[dict[str, Any], tuple[str, int, int] | None] | None:
        """The latest claim of the action (by attempt, then start) and where its outcome is."""
        best: tuple[dict[str, Any], tuple[str, int, int] | None] | None = None
        for name, st in self.logs.items():
            got = st.claims.get(action_id)
            if got is None:
                continue
            lease, loc = got
            key = (lease["attempt"], lease["started"])
            if best is None or key > (best[0]["attempt"], best[0]["started"]):
                best = (lease, (os.path.join(self.folder, name), *loc) if loc is not None else None)
        return best


_indexes: dict[str, _ClaimIndex] = {}


def _log_outcome(loc: tuple[str, int, int]) -> tuple[bool, Any, int | None] | None:
    from flyte._runtime.codec import verify_pickle

    path, offset, length = loc
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
    except OSError:
        return None
    got: tuple[bool, Any, int | None] = pickle.loads(verify_pickle(data))
    return got


def drop_lease(store: Any, prefix: str, action_id: str) -> None:
    """A cancelled action leaves no claim behind (it has no outcome to wait for)."""
    _remove(store, _uri(prefix, action_id, LEASE))


def write_outcome(store: Any, prefix: str, action_id: str, ok: bool, payload: Any, peak: int | None) -> None:
    body = pickle.dumps((ok, payload, peak), protocol=5)
    _put(store, _uri(prefix, action_id, OUTCOME), sign_pickle(body))


def write_orphaned(store: Any, prefix: str, action_id: str, reason: str) -> None:
    note = {"pid": os.getpid(), "at": time.time(), "reason": reason}
    store.put_bytes(_uri(prefix, action_id, ORPHANED), json.dumps(note).encode())


def last_adopted(store: Any, prefix: str, action_id: str) -> float:
    """When a driver last said it awaits this action (0: never)."""
    data = _read(store, _uri(prefix, action_id, ADOPTER))
    try:
        return float(json.loads(data)["at"]) if data else 0.0
    except Exception:
        return 0.0


# ---- driver side ----------------------------------------------------------------------------------
def _proc_start(pid: int) -> str | None:
    """The process's start time (Linux), so a reused pid is not taken for the worker."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def lease_alive(lease: dict[str, Any]) -> bool:
    pid = int(lease.get("pid", 0))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return False  # exited, not yet reaped
        started = lease.get("proc")
        return started is None or fields[19] == started
    except (OSError, IndexError):
        return True  # no /proc (macOS): the pid answering is all we know


def _outcome(store: Any, prefix: str, action_id: str) -> tuple[bool, Any, int | None] | None:
    data = _read(store, _uri(prefix, action_id, OUTCOME))
    if not data:
        return None
    from flyte._runtime.codec import verify_pickle

    got: tuple[bool, Any, int | None] = pickle.loads(verify_pickle(data))
    return got


def _claim(
    store: Any, prefix: str, action_id: str
) -> tuple[dict[str, Any] | None, Callable[[], tuple[bool, Any, int | None] | None]]:
    """The action's claim (None: no worker claimed it) and a reader of its outcome (None: not yet)."""
    if prefix.startswith("file://"):
        from flyte._runtime.store import uri_to_path

        folder = uri_to_path(join(prefix, CLAIMS))
        index = _indexes.get(folder)
        if index is None:
            index = _indexes[folder] = _ClaimIndex(folder)
        index.refresh()
        found = index.lookup(action_id)
        if found is not None:
            idx = index

            def from_log() -> tuple[bool, Any, int | None] | None:
                idx.refresh()
                now = idx.lookup(action_id)
                return _log_outcome(now[1]) if now is not None and now[1] is not None else None

            return found[0], from_log
    data = _read(store, _uri(prefix, action_id, LEASE))  # other stores (and logs of older versions)
    if not data:
        return None, lambda: None
    return json.loads(data), lambda: _outcome(store, prefix, action_id)


async def adopt(
    store: Any, prefix: str, action_id: str, task_name: str
) -> tuple[str, tuple[bool, Any, int | None]] | None:
    """``(how, (ok, payload, peak))`` of an action an earlier driver started in a worker, or None
    (run it again). Waits while its worker is alive, heart-beating so the worker keeps going."""
    lease, outcome = _claim(store, prefix, action_id)
    if lease is None:
        return None
    got = outcome()
    if got is not None:
        return "finished while the driver was down", got
    beat_every = beat_interval()
    last_beat = 0.0
    delay = 0.02
    while lease_alive(lease):
        now = time.time()
        if now - last_beat >= beat_every:
            store.put_bytes(
                _uri(prefix, action_id, ADOPTER), json.dumps({"at": now, "pid": os.getpid()}).encode()
            )
            last_beat = now
        await asyncio.sleep(delay)
        delay = min(0.5, delay * 1.5)
        got = outcome()
        if got is not None:
            return "awaited: still running when the driver came back", got
    got = outcome()  # it may have written it just before exiting
    if got is not None:
        return "finished while the driver was down", got
    note = _read(store, _uri(prefix, action_id, ORPHANED))
    why = json.loads(note)["reason"] if note else "it died with the driver or since"
    warnings.warn(
        f"The worker process {lease.get('pid')} that ran {task_name!r} (action {action_id[:12]}) before "
        f"the driver stopped left no result ({why}); running it again (a system retry).",
        RuntimeWarning,
        stacklevel=2,
    )
    return None
