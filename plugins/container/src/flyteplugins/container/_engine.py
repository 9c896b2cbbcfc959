"""Running one container to completion on podman or docker, with its logs streamed and nothing left.

``create`` (which cannot be interrupted half-way: a cancelled create is awaited, then removed), then
``start --attach`` streaming stdout/stderr line by line into a :class:`LogSink`. Whatever happens —
normal exit, failure, timeout or cancellation — the container is stopped (SIGTERM, then SIGKILL after
``STOP_GRACE_SECONDS``) and removed before :func:`run_container` returns or raises; an ``atexit``
hook removes any container a dying interpreter still had running.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import logging
import math
import os
import re
import shlex
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from flyte.extend import finish_shielded, run_command
from flyteplugins.container import _runtime
from flyteplugins.container._runtime import ContainerRuntime

logger = logging.getLogger("flyteplugins.container")
STOP_GRACE_SECONDS = 2.0
STOP_CALL_SECONDS = STOP_GRACE_SECONDS + 10.0
"""A container being stopped (timeout, cancellation) has been sent SIGTERM, then SIGKILL after
``STOP_GRACE_SECONDS``, and its attached ``start`` has returned within this many seconds; its
``rm --force`` follows, bounded by ``RM_CALL_SECONDS``. A runtime call that hangs is killed at its
bound, so stopping a container never waits longer than the two together."""
RM_CALL_SECONDS = 10.0
TAIL_LINES = 20
MANAGED_LABEL = "flyte.managed"
"""Every container flyte starts carries ``flyte.managed=true`` (plus run, action and task labels)."""

EXIT_UNKNOWN = -1
"""The exit status of an adopted container that ended and was removed (``--rm``) before ``wait`` could
ask, when the runtime's event log does not have it either: its result file decides, or it runs again."""

_live: dict[str, str] = {}  # container name -> runtime binary, while a container may exist


@dataclass(frozen=True)
class Mount:
    """A bind mount: ``host`` path at ``container`` path, read-only unless ``read_only=False``."""

    host: str
    container: str
    read_only: bool = True

    def arg(self) -> str:
        return f"{self.host}:{self.container}" + (":ro" if self.read_only else "")


@dataclass
class ContainerSpec:
    """What to start: image, argv, mounts, environment, limits and labels."""

    image: str
    argv: list[str]
    name: str
    mounts: list[Mount] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)  # passed by name only (never on a command line)
    memory_bytes: int | None = None
    cpus: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    max_runtime: float | None = None  # the task's timeout: a backstop kill by podman itself

    def create_args(self, rt: ContainerRuntime) -> list[str]:
        args = [rt.path, "create", "--rm", "--name", self.name, "--label", f"{MANAGED_LABEL}=true"]
        for k, v in sorted(self.labels.items()):
            args += ["--label", f"{k}={v}"]
        if self.memory_bytes is not None:
            # swap = memory: no swap, so going over the limit is an OOM kill (exit 137), not a slowdown.
            args += ["--memory", str(self.memory_bytes), "--memory-swap", str(self.memory_bytes)]
        if self.cpus is not None:
            args += ["--cpus", f"{self.cpus:g}"]
        if self.max_runtime is not None and rt.name == "podman":
            # We stop the container at the timeout ourselves; this covers a controller killed with -9.
            args += ["--timeout", str(math.ceil(self.max_runtime + STOP_GRACE_SECONDS + 30))]
        net = _runtime.network()
        if net:
            args += ["--network", net]
        pull = _runtime.pull_policy()
        if pull:
            args += ["--pull", pull]
        for m in self.mounts:
            args += ["-v", m.arg()]
        for k, v in sorted(self.env.items()):
            args += ["-e", f"{k}={v}"]
        for k in sorted(self.secret_env):
            args += ["-e", k]  # the value comes from the client's environment
        return [*args, self.image, *self.argv]


@dataclass
class ContainerResult:
    exit_code: int
    tail: list[str]


class LogSink:
    """Where a container's output goes: a log file, the ``flyteplugins.container`` logger, a tail."""

    def __init__(self, task: str, path: str | None, *, echo: bool = True) -> None:
        self.task = task
        self.echo = echo  # also to the logger (ContainerTask(local_logs=...))
        self.path = path
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._file: IO[str] | None = None
        if path is not None:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._file = open(path, "a", encoding="utf-8", errors="replace")

    def line(self, stream: str, text: str) -> None:
        self.tail.append(text)
        if self._file is not None:
            self._file.write(text + "\n")
            self._file.flush()
        if self.echo:
            logger.info("[%s] %s", self.task, text, extra={"flyte_stream": stream})

    def note(self, text: str) -> None:
        """A line of our own (not from the container) in the log file."""
        if self._file is not None:
            self._file.write(f"# {text}\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def container_name(*parts: str) -> str:
    """A unique, valid container name from the given parts (run, action...)."""
    base = "-".join(re.sub(r"[^a-zA-Z0-9_.-]+", "-", p).strip("-.")[:24] for p in parts if p)
    return f"flyte-{base}-{uuid.uuid4().hex[:8]}" if base else f"flyte-{uuid.uuid4().hex[:12]}"


def stable_name(*parts: str) -> str:
    """A valid container name from the given parts, the same each time (see ``adopt``)."""
    return "flyte-" + "-".join(re.sub(r"[^a-zA-Z0-9_.-]+", "-", p).strip("-.")[:24] for p in parts if p)


def stable_workdir(name: str) -> str:
    """The host directory of the container ``name``'s inputs and outputs (kept if the driver dies)."""
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"{name}-work")


async def adopt(
    rt: ContainerRuntime, name: str, sink: LogSink, result_path: str | None, ctx: Any
) -> ContainerResult | None:
    """Issue 23: what a crashed driver's container of this action left. A container still there is
    followed to its end (its log streamed, its exit code awaited), a result file it wrote while no
    driver ran is used; None: nothing to adopt (start one). Noted in the journal when adopted."""
    code, out = await _exec([rt.path, "container", "inspect", "--format", "{{.State.Status}} {{.Id}}", name])
    state: str | None = None
    cid = ""  # its ID: the event log knows it by that once it is gone
    if code == 0:
        state, _, cid = out.strip().lower().partition(" ")
    how = None
    result: ContainerResult | None = None
    if state in ("created", "configured", "initialized"):  # never started: start afresh
        await _exec([rt.path, "rm", "--force", name])
    elif state is not None:
        sink.note(f"adopting container {name} ({state}) started before the driver restarted")
        _live[name] = rt.path
        try:
            logs = await asyncio.create_subprocess_exec(
                rt.path,
                "logs",
                "-f",
                name,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            waited = asyncio.ensure_future(_exec([rt.path, "wait", name]))
            await asyncio.gather(_pump(logs.stdout, "stdout", sink), _pump(logs.stderr, "stderr", sink))
            await logs.wait()
            wcode, wout = await waited
            exit_code = _last_int(wout) if wcode == 0 else None
            if exit_code is None:  # it ended and --rm removed it before 'wait' asked
                exit_code = await _exit_code_of_removed(rt, cid or name)
            if exit_code is None:
                exit_code = EXIT_UNKNOWN
                sink.note("exit code unknown: the container was removed before the driver could ask")
            else:
                sink.note(f"exit code {exit_code}")
            result = ContainerResult(exit_code, list(sink.tail))
            how = "awaited: still running when the driver came back"
        finally:
            await finish_shielded(_exec([rt.path, "rm", "--force", name]))
            _live.pop(name, None)
    elif result_path is not None and os.path.exists(result_path):
        result = ContainerResult(0, list(sink.tail))
        how = "finished while the driver was down"
    if how is not None and ctx is not None and hasattr(ctx.journal, "action_adopted"):
        ctx.journal.action_adopted(ctx.run_name, ctx.action_id, how)
    return result


def _last_int(text: str) -> int | None:
    try:
        return int(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


async def _exit_code_of_removed(rt: ContainerRuntime, cid: str) -> int | None:
    """The exit status of a container that is gone, from podman's event log (its ``died`` event);
    None when the log has none (events off or rotated, or docker, whose event CLI we do not use)."""
    if rt.name != "podman":
        return None
    args = [rt.path, "events", "--stream=false", "--filter", f"container={cid}", "--filter", "event=died"]
    code, out = await _exec([*args, "--format", "{{.ContainerExitCode}}"], timeout=RM_CALL_SECONDS)
    return _last_int(out) if code == 0 else None


async def discard(rt: ContainerRuntime, name: str) -> None:
    """Remove the container ``name`` if it is still there (an orphan that stopped itself)."""
    await _exec([rt.path, "rm", "--force", name], timeout=RM_CALL_SECONDS)


async def _exec(
    args: list[str], env: Mapping[str, str] | None = None, timeout: float | None = None
) -> tuple[int, str]:
    """Run a runtime command; one still running after ``timeout`` seconds is killed (exit -9)."""
    try:
        code, out, _ = await run_command(*args, env=env, merge_stderr=True, timeout=timeout)
    except TimeoutError:
        return -9, f"{shlex.join(args[:2])} did not finish in {timeout:g}s and was killed"
    return code, out


async def _pump(reader: asyncio.StreamReader | None, stream: str, sink: LogSink) -> None:
    if reader is None:
        return
    buf = b""
    while True:
        chunk = await reader.read(1 << 16)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for raw in lines:
            sink.line(stream, raw.decode("utf-8", errors="replace").rstrip("\r"))
    if buf:
        sink.line(stream, buf.decode("utf-8", errors="replace").rstrip("\r"))


class ContainerCreateError(RuntimeError):
    """``<runtime> create`` failed (image missing and not pullable, bad option...)."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


async def run_container(
    rt: ContainerRuntime, spec: ContainerSpec, sink: LogSink, client_env: Mapping[str, str] | None = None
) -> ContainerResult:
    """Create, start and wait for a container; always stop and remove it before returning/raising."""
    env = {**os.environ, **(client_env or {}), **spec.secret_env}
    create_args = spec.create_args(rt)
    sink.note(f"{rt.name} {shlex.join(create_args[1:])}")
    _live[spec.name] = rt.path
    created = asyncio.ensure_future(_exec(create_args, env))
    start: asyncio.subprocess.Process | None = None
    try:
        code, out = await asyncio.shield(created)
        if code != 0:
            sink.note(out.strip().replace("\n", "\n# "))
            raise ContainerCreateError(f"'{rt.name} create' failed (exit {code}): {out.strip()}", out)
        start = await asyncio.create_subprocess_exec(
            rt.path,
            "start",
            "--attach",
            spec.name,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.gather(_pump(start.stdout, "stdout", sink), _pump(start.stderr, "stderr", sink))
        exit_code = await start.wait()
        sink.note(f"exit code {exit_code}")
        return ContainerResult(exit_code, list(sink.tail))
    finally:
        await finish_shielded(_cleanup(rt, spec.name, created, start, sink))


async def _cleanup(
    rt: ContainerRuntime,
    name: str,
    created: asyncio.Future[tuple[int, str]],
    start: asyncio.subprocess.Process | None,
    sink: LogSink,
) -> None:
    with contextlib.suppress(Exception):
        await created  # a create still running must finish before the container can be removed
    if start is not None and start.returncode is None:
        sink.note("stopping the container (cancelled or timed out)")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_CALL_SECONDS
        await _exec(
            [rt.path, "stop", "--time", str(int(STOP_GRACE_SECONDS)), name], timeout=STOP_CALL_SECONDS
        )
        try:
            await asyncio.wait_for(start.wait(), max(0.1, deadline - loop.time()))
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                start.kill()
            await start.wait()
    code, out = await _exec([rt.path, "rm", "--force", name], timeout=RM_CALL_SECONDS)
    if code != 0 and "no such container" not in out.lower() and "no container with" not in out.lower():
        logger.warning("could not remove container %s: %s", name, out.strip())
    _live.pop(name, None)


@atexit.register
def _remove_leftovers() -> None:
    """Containers of an interpreter that is exiting mid-run (e.g. killed event loop): kill and remove."""
    for name, path in list(_live.items()):
        with contextlib.suppress(Exception):
            subprocess.run([path, "kill", name], capture_output=True, timeout=30)  # no stop grace here
            subprocess.run([path, "rm", "--force", name], capture_output=True, timeout=30)
        _live.pop(name, None)
