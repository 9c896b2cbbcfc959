"""A run's redo log: the durable write of a sequential step, one ``write()`` instead of a commit.

Why (issue 20): in a sequential chain each step's result must be durable before the parent sees it,
and nothing else finishes in the same loop turn to share a SQLite commit with (~15-40 µs each). A
``write()`` to a file already survives a killed process (the data is in the kernel once the call
returns), at a few microseconds. So such a step's row is appended here and the parent continues; the
row stays queued and reaches SQLite with the run's next group commit, which also records how far the
log has been applied (``journal_info`` row ``redo:<file>``, in the same transaction).

Recovery: whoever opens the journal (``Journal.replay_redo``) applies, from every log whose writer is
gone, the records past its recorded mark, then removes the log. A live writer holds an exclusive
``flock`` on its log, which the kernel drops when the process dies, however it dies.

Frames: ``<length u32><crc32 u32><seq u64>`` + ``marshal((statement, params))``. A frame cut short by
a kill (a multi-page ``write`` can be) fails its length or checksum: it was never acknowledged.

Only for SQLite journals with ``FLYTE_DURABILITY=process``: ``fsync`` durability would need an fsync
per write anyway, and a PostgreSQL journal may be recovered from another host.
"""

from __future__ import annotations

import marshal
import os
import struct
import time
import zlib
from collections.abc import Sequence
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no redo log, every step commits
    fcntl = None  # type: ignore[assignment]

HEADER = struct.Struct("<IIQ")
MAX_RECORD = 64 * 1024
"""Rows bigger than this (a large inline value) are committed to SQLite directly, not written twice."""
TRUNCATE_AT = 1 << 20
"""Once everything in the log is applied and it holds this many bytes, it is emptied."""
OWNER_CODE = -1
"""The statement code of frame 0: ``(run, owner)``, not a statement."""
_counter = [0]


def available() -> bool:
    return fcntl is not None


def log_dir(journal_path: str) -> str:
    return journal_path + "-redo"


def mark_name(file_name: str) -> str:
    return "redo:" + file_name


class RedoLog:
    """One run's log file (created on first use), written from the run's event loop only."""

    def __init__(self, journal_path: str, statements: Sequence[str]) -> None:
        self._dir = log_dir(journal_path)
        self._codes = {sql: i for i, sql in enumerate(statements)}
        self._fd = -1
        self.name = ""
        self.mark = ""  # the journal_info row holding how far SQLite has applied this log
        self.seq = 0  # last record written
        self.applied = 0  # last record known committed to SQLite
        self._size = 0
        self.broken = False  # a write failed: every later step commits to SQLite directly
        self.owner: tuple[str, str] | None = None
        """(run, lease owner) of the driver writing it: a replay skips the log of a driver whose run
        was taken over (its steps were never committed; the new owner ran them itself)."""

    def _open(self) -> None:
        os.makedirs(self._dir, exist_ok=True)
        _counter[0] += 1
        self.name = f"{os.getpid()}-{time.time_ns()}-{_counter[0]}.log"
        tmp = os.path.join(self._dir, "." + self.name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until we close it or die
        os.rename(tmp, os.path.join(self._dir, self.name))  # a replayer sees it only once locked
        self._fd = fd
        self.mark = mark_name(self.name)
        self._write_owner()

    def _write_owner(self) -> None:
        """Frame 0 of the log names its run and owner (written again after a truncation)."""
        if self.owner is None:
            return
        body = marshal.dumps((OWNER_CODE, self.owner))
        self._size += os.write(self._fd, HEADER.pack(len(body), zlib.crc32(body, 0), 0) + body)

    def append(self, sql: str, params: Sequence[Any]) -> bool:
        """Write one statement durably (against a killed process); False when it cannot be logged
        (unknown statement, a big value, an unmarshallable parameter, an I/O error): commit it."""
        if self.broken:
            return False
        seq = self.seq + 1
        frame = self._frame(sql, params, seq)
        if frame is None:
            return False
        if self._fd < 0:  # the first record: _write opens the log
            return self._write(frame, seq)
        try:  # _write's work, inline: this runs once per sequential step
            written = os.write(self._fd, frame)
        except OSError:
            self.broken = True
            return False
        if written != len(frame):
            self.broken = True
            return False
        self.seq = seq
        self._size += written
        return True

    def append_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> bool:
        """:meth:`append` for several statements in one ``write``; all or none are logged."""
        if self.broken:
            return False
        frames = []
        seq = self.seq
        for sql, params in statements:
            seq += 1
            frame = self._frame(sql, params, seq)
            if frame is None:
                return False
            frames.append(frame)
        return self._write(b"".join(frames), seq)

    def _frame(self, sql: str, params: Sequence[Any], seq: int) -> bytes | None:
        """Record ``seq`` of the log, or None when the statement cannot be logged."""
        code = self._codes.get(sql)
        if code is None:
            return None
        try:  # a row's inline values are at most a few hundred KiB (larger ones live in the store)
            body = marshal.dumps((code, tuple(params)))
        except ValueError:
            return None
        if len(body) > MAX_RECORD:
            return None
        return HEADER.pack(len(body), zlib.crc32(body, seq & 0xFFFFFFFF), seq) + body

    def _write(self, frames: bytes, last_seq: int) -> bool:
        """Append whole frames in one ``write``; a failed or short write stops the log's use."""
        try:
            if self._fd < 0:
                self._open()
            written = os.write(self._fd, frames)
        except OSError:
            self.broken = True
            return False
        if written != len(frames):  # never for a small regular-file write; do not trust the log then
            self.broken = True
            return False
        self.seq = last_seq
        self._size += written
        return True

    def committed(self, seq: int) -> None:
        """SQLite now holds every record up to ``seq`` (the mark was in the same transaction)."""
        self.applied = seq
        if seq == self.seq and self._size >= TRUNCATE_AT:
            try:
                os.ftruncate(self._fd, 0)
                self._size = 0
                self._write_owner()
            except OSError:
                pass

    def close(self) -> bool:
        """Remove the log (everything in it must be applied); True when a mark row may be left."""
        if self._fd < 0:
            return False
        try:
            os.unlink(os.path.join(self._dir, self.name))
        except OSError:
            pass
        os.close(self._fd)
        self._fd = -1
        return True


def parse(data: bytes) -> list[tuple[int, int, tuple[Any, ...]]]:
    """(seq, statement code, params) of each whole frame, up to the first cut or damaged one."""
    out: list[tuple[int, int, tuple[Any, ...]]] = []
    view = memoryview(data)
    pos, end = 0, len(data)
    while pos + HEADER.size <= end:
        length, crc, seq = HEADER.unpack_from(view, pos)
        start = pos + HEADER.size
        if start + length > end:
            break
        body = view[start : start + length]
        if zlib.crc32(body, seq & 0xFFFFFFFF) != crc:
            break
        try:
            code, params = marshal.loads(body)
        except (ValueError, EOFError, TypeError):
            break
        out.append((seq, code, params))
        pos = start + length
    return out


def owner_of(records: list[tuple[int, int, tuple[Any, ...]]]) -> tuple[str, str] | None:
    """(run, lease owner) a log's frame 0 names, if it has one."""
    for seq, code, params in records[:1]:
        if seq == 0 and code == OWNER_CODE:
            return (str(params[0]), str(params[1]))
    return None


def orphaned_logs(journal_path: str) -> list[tuple[str, int]]:
    """(file name, open locked fd) of each log whose writer is gone; the caller replays and closes."""
    if fcntl is None:
        return []
    d = log_dir(journal_path)
    try:
        names = os.listdir(d)
    except OSError:
        return []
    found: list[tuple[str, int]] = []
    for name in names:
        if not name.endswith(".log") or name.startswith("."):
            continue
        try:
            fd = os.open(os.path.join(d, name), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its writer is alive
            os.close(fd)
            continue
        if os.fstat(fd).st_nlink == 0:  # closed and removed by its writer meanwhile
            os.close(fd)
            continue
        found.append((name, fd))
    return found


def read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
