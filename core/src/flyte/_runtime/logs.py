"""Each action's own output (print, sys.stdout/stderr writes) kept with its record.

While a run is active, ``sys.stdout`` and ``sys.stderr`` are wrapped once per process: every write
still goes where it went before (the terminal, a worker's inherited stream, pytest's capture) and is
also appended to the log of the action that wrote it, found through the current-action context
(asyncio copies it into child tasks, sync bodies get a copy on their thread). At the end of each
attempt the text goes to the run's store as ``<run prefix>/<action id>/logs/attempt-<n>.log``, the
same place container tasks stream their logs to; ``flyte ui`` shows them with the action. Writing
nothing costs nothing; a log keeps its last ``LOG_LIMIT`` bytes.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from typing import Any, TextIO

from flyte._context import current_action

LOG_LIMIT = int(os.environ.get("FLYTE_ACTION_LOG_LIMIT", str(1024 * 1024)))


class ActionLog:
    """The text one attempt of one action wrote, bounded to its last ``LOG_LIMIT`` bytes."""

    __slots__ = ("chunks", "dropped", "size")

    def __init__(self) -> None:
        self.chunks: deque[str] = deque()
        self.size = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        self.chunks.append(text)
        self.size += len(text)
        while self.size > LOG_LIMIT and len(self.chunks) > 1:
            old = self.chunks.popleft()
            self.size -= len(old)
            self.dropped += len(old)

    def text(self) -> str:
        head = f"[... {self.dropped:,} earlier characters dropped ...]\n" if self.dropped else ""
        return head + "".join(self.chunks)


class _Tee:
    """A stream that also copies each write into the current action's log."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, s: str) -> int:
        n = self._inner.write(s)
        if s:
            ac = current_action.get()
            if ac is not None:
                state = ac.action
                log = state.log
                if log is None:
                    log = state.log = ActionLog()
                log.add(s)
        return n

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer...
        return getattr(self._inner, name)


def install() -> None:
    """Wrap ``sys.stdout``/``sys.stderr`` (again, if something replaced them since)."""
    if sys.stdout.__class__ is _Tee and sys.stderr.__class__ is _Tee:
        return  # the usual case: a worker calls this before every action (issue 20)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Tee):
            setattr(sys, name, _Tee(stream))


def take(state: Any) -> str | None:
    """The text an action wrote since the last call (None when it wrote nothing)."""
    log: ActionLog | None = state.log
    if log is None:
        return None
    state.log = None
    return log.text()


def log_path(run_prefix: str, action_id: str, attempt: int) -> str:
    from flyte._runtime.store import join

    return join(run_prefix, action_id, "logs", f"attempt-{attempt}.log")


def append(text: str) -> None:
    """Add text to the current action's log without printing it (output a plugin collected elsewhere,
    e.g. what a cluster's workers printed). Outside an action it is dropped."""
    ac = current_action.get()
    if ac is None or not text:
        return
    state = ac.action
    if state.log is None:
        state.log = ActionLog()
    state.log.add(text if text.endswith("\n") else text + "\n")
