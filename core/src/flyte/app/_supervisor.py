"""Local serving: replicas as processes behind one port, health-checked, restarted and scaled.

``Supervisor`` (asyncio) listens on ``host:port`` and forwards each TCP connection to the ready
replica with the fewest open connections (ties round-robin); an idempotent request whose replica
closes or dies before answering is replayed on another one. Each replica is a process in its own
session on an ephemeral ``127.0.0.1`` port; it dies with the supervisor (``PR_SET_PDEATHSIG``). A
keeper task per replica slot starts it, waits until ``GET <health path>`` answers below 500, probes
it every ``health_check_interval`` and restarts it when it exits or fails three probes in a row
(with backoff when it keeps crashing). A scaler moves the number of slots between the app's min
and max replicas by load (open connections, or new connections per second for ``RequestRate``);
with ``min=0`` the first connection starts a replica. The registry entry
(``$FLYTE_HOME/apps/<name>.json``) is written once ready and removed on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flyte.app import _registry
from flyte.app._parameter import parameter_env

if TYPE_CHECKING:
    from flyte.app._app_environment import AppEnvironment

__all__ = ["ServeError", "Supervisor"]

Log = Callable[[str, str], None]  # (level, message)

_CRASHES_BEFORE_GIVING_UP = 3  # replicas that die before ever being ready, in a row
_UNHEALTHY_AFTER = 3  # failed probes in a row
_DEFAULT_CONCURRENCY = 100  # per replica, when the app names no metric
_DEFAULT_SCALEDOWN = 30.0  # seconds below the needed count before a replica stops
_MAX_TRIES = 3  # replicas tried for one connection
_REPLAY_LIMIT = 64 * 1024  # request bytes kept for a replay
_IDEMPOTENT = {b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"}  # replayed (not POST, PATCH)
STOP_SLACK_S = 5.0
"""``Supervisor.stop`` returns within ``stop_timeout + STOP_SLACK_S`` seconds: every replica gets SIGTERM
at once and SIGKILL ``stop_timeout`` later; the slack covers ending the keepers (``_CANCEL_S``), reaping
the killed replicas (``_REAP_S``) and closing the listener (1 s), each bounded. ``flyte serve``
(stop_timeout 5 s) thus exits within 10 s of SIGTERM or Ctrl-C."""
_CANCEL_S = 1.0  # keepers and scaler: cancelled (again, if one lost it) until they end
_REAP_S = 2.0  # after SIGKILL: the kernel frees a killed process in far less, even on a loaded machine


class ServeError(RuntimeError):
    """The app could not be served (port taken, already served, replicas failing to start)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def substitute_port(parts: list[str], declared: int, port: int) -> list[str]:
    """A command's ``$PORT``, ``${PORT}``, ``$(PORT)`` and the declared port (``8080``, ``--port=8080``,
    ``host:8080``) become the replica's port."""
    out = []
    d, p = str(declared), str(port)
    for part in parts:
        for token in ("${PORT}", "$(PORT)", "$PORT"):
            part = part.replace(token, p)
        if part == d:
            part = p
        elif part.endswith(("=" + d, ":" + d)):
            part = part[: -len(d)] + p
        out.append(part)
    return out


@dataclass
class Replica:
    slot: int
    port: int
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    state: str = "starting"  # starting | ready | draining | stopping
    ready_at: float | None = None
    active: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def info(self) -> dict[str, Any]:
        return {"slot": self.slot, "pid": self.pid, "port": self.port, "state": self.state}


class Supervisor:
    """Serve one app locally until :meth:`stop`."""

    def __init__(
        self,
        app: AppEnvironment,
        *,
        file: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        health_check_path: str = "/health",
        health_check_interval: float = 1.0,
        health_check_timeout: float = 2.0,
        startup_timeout: float = 60.0,
        stop_timeout: float = 5.0,
        env_vars: dict[str, str] | None = None,
        log: Log | None = None,
    ) -> None:
        self.app = app
        self.file = os.path.abspath(file)
        self.host = host
        self.port = app.get_port().port if port is None else port
        self.health_check_path = (
            health_check_path if health_check_path.startswith("/") else f"/{health_check_path}"
        )
        self.health_check_interval = health_check_interval
        self.health_check_timeout = health_check_timeout
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.env_vars = dict(env_vars or {})
        self.log: Log = log or (lambda level, msg: None)
        self.min_replicas, self.max_replicas = app.scaling.get_replicas()
        self.replicas: dict[int, Replica] = {}
        self.restarts = 0
        self._target = 0
        self._keepers: dict[int, asyncio.Task[None]] = {}
        self._server: asyncio.AbstractServer | None = None
        self._scaler: asyncio.Task[None] | None = None
        self._stopping = False
        self._fatal: str | None = None
        self._ever_ready = False
        self._waiting = 0
        self._rr = 0
        self._new_conns: deque[float] = deque()
        self._below_since: float | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._registered = False
        self._changed = asyncio.Event()

    # ---- lifecycle ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return url_for(self.host, self.port)

    async def start(self) -> None:
        """Listen and start ``min`` replicas (does not wait for them; see :meth:`wait_ready`)."""
        existing = _registry.read_entry(self.app.name)
        if existing is not None:
            raise ServeError(
                f"app {self.app.name!r} is already being served at {existing.get('url')} "
                f"(pid {existing.get('pid')}); stop it first"
            )
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as e:
            raise ServeError(
                f"cannot listen on {self.host}:{self.port}: {e.strerror or e}; "
                "choose another port with --port (0 picks a free one)"
            ) from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        for s in self.app.secret_list:
            if s.env_var_name not in os.environ and s.env_var_name not in self.env_vars:
                self.log(
                    "warning", f"secret {s.key!r}: ${s.env_var_name} is not set, the app will not see it"
                )
        self._set_target(self.min_replicas)
        self._scaler = asyncio.create_task(self._scale_loop())

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until ``min`` replicas are ready, then publish the registry entry."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._ready_count() < self.min_replicas:
            if self._fatal:
                raise ServeError(self._fatal)
            if self._stopping:
                raise ServeError("stopped before the app was ready")
            if deadline is not None and time.monotonic() > deadline:
                raise ServeError(
                    f"app {self.app.name!r}: {self.min_replicas} replica(s) not ready after {timeout:g}s "
                    f"(health check GET {self.health_check_path})"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):  # not wait_for: see _probe
                    await self._changed.wait()
        self._registered = True
        self._publish()

    async def stop(self) -> None:
        """Stop listening, stop every replica (SIGTERM, then SIGKILL), remove the registry entry.

        Returns within ``stop_timeout + STOP_SLACK_S`` seconds, whatever the replicas do."""
        if self._stopping and self._server is None:
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        tasks = {t for t in (self._scaler, *self._keepers.values()) if t is not None}
        deadline = time.monotonic() + _CANCEL_S
        while tasks and time.monotonic() < deadline:  # they also end on their own once _stopping is set
            for t in tasks:
                t.cancel()
            _, tasks = await asyncio.wait(tasks, timeout=0.1)
        await asyncio.gather(
            *(self._terminate(r) for r in list(self.replicas.values())), return_exceptions=True
        )
        self.replicas.clear()
        for w in list(self._clients):
            w.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        _registry.remove_entry(self.app.name, os.getpid())

    # ---- replicas ----------------------------------------------------------------------------------
    def _ready_count(self) -> int:
        return sum(1 for r in self.replicas.values() if r.state == "ready")

    def _set_target(self, n: int) -> None:
        n = max(self.min_replicas, min(self.max_replicas, n))
        if n != self._target:
            if self._registered:
                verb = "up" if n > self._target else "down"
                self.log("info", f"scaling {verb} to {n} replica(s)")
            self._target = n
        for slot in range(n):
            if slot not in self._keepers and not self._stopping:
                self._keepers[slot] = asyncio.create_task(self._keep(slot))

    def _spawn(self, slot: int) -> Replica:
        port = free_port()
        app = self.app
        env = dict(os.environ)
        env.update(app.env_vars or {})
        env.update(self.env_vars)
        env.update(parameter_env(app.parameters))
        env.update(
            {
                "PORT": str(port),
                "FLYTE_APP_PORT": str(port),
                "FLYTE_APP_HOST": "127.0.0.1",
                "FLYTE_APP_NAME": app.name,
                "FLYTE_APP_REPLICA": str(slot),
                "FLYTE_APP_ENDPOINT": self.url,
                "FLYTE_APP_SYS_PATH": json.dumps([p for p in sys.path if p]),
                "_RUN_MODE": "local",
                "PYTHONUNBUFFERED": "1",
            }
        )
        launcher = [sys.executable, "-m", "flyte.app._replica", "--parent", str(os.getpid())]
        if app._command is not None:
            declared = app.get_port().port
            cmd = substitute_port([*app._command, *(app._args or [])], declared, port)
            argv = [*launcher, "--exec", "--", *cmd]
        else:
            argv = [*launcher, "--port", str(port), "--host", "127.0.0.1", self.file, app.name]
            if app._args:
                argv += ["--", *app._args]
        proc = subprocess.Popen(argv, env=env, start_new_session=True, stdin=subprocess.DEVNULL)
        replica = Replica(slot=slot, port=port, proc=proc)
        self.replicas[slot] = replica
        return replica

    async def _keep(self, slot: int) -> None:
        """Run the replica of ``slot`` while the slot is wanted; restart it when it fails."""
        crashes = 0
        try:
            while not self._stopping and slot < self._target:
                replica = self._spawn(slot)
                outcome = await self._watch(replica)
                if outcome == "stopping":
                    return  # stop() terminates the replicas still listed
                self.replicas.pop(slot, None)
                self._changed.set()
                self._publish()
                if outcome == "retired" or self._stopping:
                    break
                lived = time.monotonic() - (replica.ready_at or time.monotonic())
                crashes = 1 if replica.ready_at is not None and lived > 10 else crashes + 1
                if not self._ever_ready and crashes >= _CRASHES_BEFORE_GIVING_UP:
                    self._fatal = (
                        f"app {self.app.name!r}: replica failed {crashes} times before becoming ready "
                        f"({outcome}); see its output above. If its server binds the app's port "
                        f"{self.app.get_port().port} by number, bind app_env.get_port().port or $PORT "
                        "instead: locally that is the replica's own port, the supervisor listens on "
                        "the declared one"
                    )
                    self._changed.set()
                    return
                self.restarts += 1
                await asyncio.sleep(min(10.0, 0.25 * 2 ** (crashes - 1)) if crashes > 1 else 0.0)
        finally:
            if self._keepers.get(slot) is asyncio.current_task():
                del self._keepers[slot]

    async def _watch(self, r: Replica) -> str:
        """Follow one replica until it exits, fails its health checks or is retired."""
        name = f"{self.app.name}[{r.slot}]"
        deadline = r.started + self.startup_timeout
        while True:
            if self._stopping:
                return "stopping"
            code = r.proc.poll()
            if code is not None:
                self.log("warning", f"{name} (pid {r.pid}) exited with code {code} before it was ready")
                return f"exit code {code}"
            if await self._probe(r.port):
                break
            if time.monotonic() > deadline:
                self.log("warning", f"{name} not healthy after {self.startup_timeout:g}s; restarting it")
                await self._terminate(r)
                return "startup timeout"
            await asyncio.sleep(0.1)
        r.state, r.ready_at = "ready", time.monotonic()
        self._ever_ready = True
        self.log("info", f"{name} ready on 127.0.0.1:{r.port} (pid {r.pid})")
        self._changed.set()
        self._publish()
        failures = 0
        next_probe = time.monotonic() + self.health_check_interval
        drain_deadline: float | None = None
        while True:
            await asyncio.sleep(0.1)
            if self._stopping:
                return "stopping"
            code = r.proc.poll()
            if code is not None:
                self.log("warning", f"{name} (pid {r.pid}) exited with code {code}; restarting it")
                return f"exit code {code}"
            if r.slot >= self._target:
                if r.state == "ready":
                    r.state, drain_deadline = "draining", time.monotonic() + 30.0
                if r.active == 0 or time.monotonic() > (drain_deadline or 0):
                    await self._terminate(r)
                    self.log("info", f"{name} stopped (scaled down)")
                    return "retired"
                continue
            if r.state == "draining":
                r.state, drain_deadline = "ready", None
            if time.monotonic() >= next_probe:
                next_probe = time.monotonic() + self.health_check_interval
                if await self._probe(r.port):
                    failures = 0
                    continue
                failures += 1
                if failures >= _UNHEALTHY_AFTER:
                    self.log("warning", f"{name} failed {failures} health checks; restarting it")
                    r.state = "stopping"
                    await self._terminate(r, grace=1.0)
                    return "unhealthy"

    async def _probe(self, port: int) -> bool:
        """GET the health path; healthy when it answers with a status below 500.

        Bounded by ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11 ``wait_for`` drops a
        cancellation that arrives as the awaited call completes (more likely on a loaded machine,
        where one loop iteration sees both), and a keeper that lost its cancel kept ``stop`` waiting."""
        writer = None
        try:
            async with asyncio.timeout(self.health_check_timeout):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET {self.health_check_path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "User-Agent: flyte-serve-health\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            async with asyncio.timeout(self.health_check_timeout):
                line = await reader.readline()
            parts = line.split()
            return len(parts) >= 2 and parts[0].startswith(b"HTTP/") and int(parts[1]) < 500
        except (TimeoutError, OSError, ValueError):
            return False
        finally:
            if writer is not None:
                writer.close()

    async def _terminate(self, r: Replica, grace: float | None = None) -> None:
        """SIGTERM the replica's process group, SIGKILL it after ``grace`` seconds."""
        r.state = "stopping"
        pgid = r.proc.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + (self.stop_timeout if grace is None else grace)
        while r.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        # reaped without blocking the event loop: the other replicas are being stopped meanwhile
        deadline = time.monotonic() + _REAP_S
        while r.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    # ---- scaling -----------------------------------------------------------------------------------
    def _desired(self, now: float) -> int:
        metric = self.app.scaling.metric
        from flyte.app._types import Scaling

        while self._new_conns and self._new_conns[0] < now - 1.0:
            self._new_conns.popleft()
        if isinstance(metric, Scaling.RequestRate):
            load, per = len(self._new_conns), metric.val
        else:
            active = sum(r.active for r in self.replicas.values()) + self._waiting
            load, per = (
                active,
                (metric.val if isinstance(metric, Scaling.Concurrency) else _DEFAULT_CONCURRENCY),
            )
        desired = math.ceil(load / per) if load else 0
        if self._waiting and desired == 0:
            desired = 1
        return max(self.min_replicas, min(self.max_replicas, desired))

    async def _scale_loop(self) -> None:
        down_after = self.app.scaling.scaledown_seconds()
        down_after = _DEFAULT_SCALEDOWN if down_after is None else down_after
        while not self._stopping:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            desired = self._desired(now)
            if desired > self._target:
                self._below_since = None
                self._set_target(desired)
            elif desired < self._target:
                if self._below_since is None:
                    self._below_since = now
                elif now - self._below_since >= down_after:
                    self._below_since = now
                    self._set_target(self._target - 1)
            else:
                self._below_since = None

    # ---- proxy -------------------------------------------------------------------------------------
    async def _pick(self, exclude: set[int]) -> Replica | None:
        deadline = time.monotonic() + self.startup_timeout
        self._waiting += 1
        try:
            while not self._stopping and not self._fatal:
                ready = [r for r in self.replicas.values() if r.state == "ready" and r.pid not in exclude]
                if ready:
                    ready.sort(key=lambda r: r.slot)
                    k = self._rr % len(ready)
                    self._rr += 1
                    return min(ready[k:] + ready[:k], key=lambda r: r.active)  # ties: round-robin
                if self._target == 0:
                    self._set_target(1)
                if time.monotonic() > deadline:
                    return None
                await asyncio.sleep(0.02)
            return None
        finally:
            self._waiting -= 1

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        """Relay one client connection to a replica (to another one if it dies before answering)."""
        self._new_conns.append(time.monotonic())
        self._clients.add(cwriter)
        relay = _Relay(creader, cwriter)
        exclude: set[int] = set()
        try:
            for _ in range(_MAX_TRIES):
                replica, upstream = await self._connect(exclude)
                if replica is None or upstream is None:
                    if not relay.answered:
                        body = f"no replica of app {self.app.name!r} is ready\n".encode()
                        cwriter.write(
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                            + body
                        )
                        with contextlib.suppress(OSError):
                            await cwriter.drain()
                    return
                replica.active += 1
                try:
                    retry = await relay.run(*upstream)
                finally:
                    replica.active -= 1
                    upstream[1].close()
                if not retry:
                    return
                exclude.add(replica.pid)  # it closed before answering (it died): replay elsewhere
        finally:
            self._clients.discard(cwriter)
            cwriter.close()

    async def _connect(
        self, exclude: set[int]
    ) -> tuple[Replica | None, tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]:
        while True:
            replica = await self._pick(exclude)
            if replica is None:
                return None, None
            try:
                return replica, await asyncio.open_connection("127.0.0.1", replica.port)
            except OSError:
                exclude.add(replica.pid)  # died or restarting: nothing was sent yet, try another

    # ---- registry ----------------------------------------------------------------------------------
    def _publish(self) -> None:
        if not self._registered or self._stopping:
            return
        _registry.write_entry(
            self.app.name,
            {
                "name": self.app.name,
                "url": self.url,
                "host": self.host,
                "port": self.port,
                "pid": os.getpid(),
                "file": self.file,
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "replicas": [r.info() for r in sorted(self.replicas.values(), key=lambda r: r.slot)],
                "restarts": self.restarts,
            },
        )


class _Relay:
    """Copies one client connection to upstream connections.

    Until the first response byte, what the client sent (up to 64 KiB) is kept, so an idempotent
    request whose replica closed or died without answering can be replayed on another replica.
    """

    def __init__(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        self.creader = creader
        self.cwriter = cwriter
        self.sent = bytearray()
        self.keep = True  # still recording: no response yet and not too much sent
        self.answered = False
        self.client_eof = False

    def replayable(self) -> bool:
        """Whether the request may go to another replica: nothing answered yet, and either nothing
        of it reached a replica (a replica killed just after accepting closes before the request is
        read) or it is a kept idempotent request."""
        if self.answered:
            return False
        if not self.sent:
            return not self.client_eof
        method = bytes(self.sent[:8]).split(b" ", 1)[0]
        return self.keep and method in _IDEMPOTENT

    async def run(self, ureader: asyncio.StreamReader, uwriter: asyncio.StreamWriter) -> bool:
        """Relay until done; True when the request should be replayed on another replica."""
        try:
            if self.sent:
                uwriter.write(bytes(self.sent))
                if self.client_eof and uwriter.can_write_eof():
                    uwriter.write_eof()
                await uwriter.drain()
        except OSError:
            return self.replayable()
        up = asyncio.create_task(self._up(uwriter)) if not self.client_eof else None
        down = asyncio.create_task(self._down(ureader))
        try:
            waiting = {t for t in (up, down) if t is not None}
            while waiting:
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if down in done:
                    # upstream closed: replay if it never answered, else the exchange is over
                    return down.result() != "client-broken" and self.replayable()
                if up in done:
                    outcome = up.result()
                    if outcome == "client-broken":
                        return False
                    if outcome == "upstream-broken" and self.replayable():
                        return True
                    # client finished sending: wait for the response
            return False
        finally:
            for t in (up, down):
                if t is not None:
                    t.cancel()
            await asyncio.gather(*(t for t in (up, down) if t is not None), return_exceptions=True)

    async def _up(self, uwriter: asyncio.StreamWriter) -> str:
        while True:
            try:
                data = await self.creader.read(65536)
            except OSError:
                return "client-broken"
            if not data:
                self.client_eof = True
                with contextlib.suppress(OSError):
                    if uwriter.can_write_eof():
                        uwriter.write_eof()
                return "client-eof"
            if self.keep:
                self.sent += data
                if len(self.sent) > _REPLAY_LIMIT:
                    self.keep = False
            try:
                uwriter.write(data)
                await uwriter.drain()
            except OSError:
                return "upstream-broken"

    async def _down(self, ureader: asyncio.StreamReader) -> str:
        while True:
            try:
                data = await ureader.read(65536)
            except OSError:
                return "upstream-broken"
            if not data:
                return "upstream-eof"
            self.answered, self.keep = True, False
            try:
                self.cwriter.write(data)
                await self.cwriter.drain()
            except OSError:
                return "client-broken"
