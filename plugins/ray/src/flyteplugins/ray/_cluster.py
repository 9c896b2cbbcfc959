"""A Ray cluster of local processes: one ``ray start --block`` per node, each on its own loopback address.

Used by the ``ray`` task type (``RayJobConfig`` without an ``address``) and by the plugin's tests and
benchmark. Every node advertises its own address (``--node-ip-address``; Ray would otherwise put the
machine's other address in its tables) and runs in a process group of its own, so the cluster is
stopped by the PIDs started here: SIGTERM to each group (``--block`` then stops the node's raylet,
GCS and workers), SIGKILL after a grace period. Ray's servers listen on every interface of the
network namespace they run in; run them where that is acceptable (the tests use a namespace that has
only loopback).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BASE_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
"""Settings every node and the driver share (a node and a driver that disagree on auth cannot talk)."""
_MARKER = re.compile(r"^:[a-z_]+:")  # Ray's own lines in worker logs (":job_id:...", ":task_name:...")
STOP_GRACE_S = 20.0
"""``LocalCluster.stop``: how long the nodes get to stop on SIGTERM before their groups get SIGKILL."""
STOP_KILL_S = 10.0
"""...and how long the killed processes then get to go: ``stop`` returns within
``STOP_GRACE_S + STOP_KILL_S`` seconds (far sooner when the nodes stop on SIGTERM)."""


def ray_bin() -> str | None:
    """The ``ray`` command of this interpreter's environment."""
    here = Path(sys.executable).with_name("ray")
    return str(here) if here.exists() else shutil.which("ray")


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """One node: its address, its extra ``ray start`` arguments and, once started, its process."""

    ip: str
    args: list[str]
    head: bool = False
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None


@dataclass
class LocalCluster:
    """Nodes started in order (the head first); ``gcs`` is the head's GCS address."""

    temp: Path
    env: Mapping[str, str] = field(default_factory=dict)
    gcs_port: int = 0
    client_port: int = 0
    nodes: dict[str, Node] = field(default_factory=dict)

    @property
    def head_ip(self) -> str:
        return next(n.ip for n in self.nodes.values() if n.head)

    @property
    def gcs(self) -> str:
        return f"{self.head_ip}:{self.gcs_port}"

    @property
    def direct(self) -> str:
        """The flyte executor address that joins the cluster as a driver through the GCS."""
        return f"ray+direct://{self.gcs}"

    @property
    def client(self) -> str:
        return f"ray://{self.head_ip}:{self.client_port}"

    def add_node(self, name: str, ip: str, args: list[str], *, head: bool = False) -> None:
        if head and any(n.head for n in self.nodes.values()):
            raise ValueError("a cluster has one head node")
        self.nodes[name] = Node(ip, list(args), head)

    def start(self, timeout: float = 180.0) -> LocalCluster:
        """Start the head, then each worker, each waited for until it has joined."""
        if ray_bin() is None:
            raise RuntimeError("the 'ray' command is not installed: pip install 'flyte-plugin-ray'")
        self.temp.mkdir(parents=True, exist_ok=True)
        head = self.nodes[next(k for k, n in self.nodes.items() if n.head)]
        self.gcs_port = free_port(head.ip)
        self.client_port = free_port(head.ip)
        head.args = [
            "--head",
            f"--port={self.gcs_port}",
            f"--ray-client-server-port={self.client_port}",
            f"--temp-dir={self.temp}",
            *(
                []
                if any(a.startswith("--include-dashboard") for a in head.args)
                else ["--include-dashboard=false"]
            ),
            *head.args,
        ]
        for node in self.nodes.values():
            if not node.head:
                node.args = [f"--address={self.gcs}", *node.args]
        heads = [k for k, n in self.nodes.items() if n.head]
        workers = [k for k, n in self.nodes.items() if not n.head]
        try:
            for name in heads + workers:  # one at a time: a small machine starts one quickest
                self._start_node(name, timeout)
        except BaseException:
            self.stop()  # a failed start leaves nothing running
            raise
        return self

    def _start_node(self, name: str, timeout: float) -> None:
        """Start one node; tried twice, as Ray gives a node's raylet a fixed 30 s to register, which
        a busy machine can miss."""
        node = self.nodes[name]
        for attempt in (1, 2):
            self._launch(name, node)
            try:
                self._wait_started(name, node, timeout)
                return
            except RuntimeError:
                if attempt == 2 or node.proc is None:
                    raise
                _signal_group(node.proc, signal.SIGKILL)
                node.proc.wait(30)
                if node.log is not None and node.log.exists():
                    node.log.rename(node.log.with_suffix(".failed.log"))

    def node_env(self) -> dict[str, str]:
        return {**BASE_ENV, **os.environ, **self.env}

    def _launch(self, name: str, node: Node) -> None:
        binary = ray_bin()
        assert binary is not None
        node.log = self.temp / f"node-{name}.log"
        with open(node.log, "ab") as log:
            node.proc = subprocess.Popen(
                [
                    binary,
                    "start",
                    f"--node-ip-address={node.ip}",
                    "--disable-usage-stats",
                    "--block",
                    *node.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.node_env(),
                start_new_session=True,  # its own process group: stopped as one, by this PID
            )

    def _wait_started(self, name: str, node: Node, timeout: float) -> None:
        """Until the node's ``ray start`` says it runs (it has registered with the GCS by then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise RuntimeError(f"Ray node {name} ({node.ip}) exited: {self.tail(name)}")
            if node.log is not None and b"Ray runtime started" in node.log.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"Ray node {name} ({node.ip}) did not start in {timeout:g}s: {self.tail(name)}")

    def kill_node(self, name: str) -> None:
        """Kill a node outright (SIGKILL to its whole process group), as a machine that dies."""
        node = self.nodes[name]
        if node.proc is not None:
            _signal_group(node.proc, signal.SIGKILL)
            node.proc.wait(30)

    def restart_node(self, name: str, timeout: float = 120.0) -> None:
        node = self.nodes[name]
        if node.log is not None and node.log.exists():
            node.log.rename(node.log.with_suffix(f".{int(time.time())}.log"))
        self._launch(name, node)
        self._wait_started(name, node, timeout)

    def stop(self) -> None:
        """Stop every node by the PID started here: SIGTERM to every group, SIGKILL to what is left
        after ``STOP_GRACE_S``; returns within ``STOP_GRACE_S + STOP_KILL_S`` seconds."""
        started = [n.proc for n in self.nodes.values() if n.proc is not None]
        for proc in started:  # all at once: each node drains on its own
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        # `ray start --block` exits once its node's processes are gone; what is left of a group after
        # that (or after the grace) is killed
        while any(p.poll() is None for p in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in started:
            _signal_group(proc, signal.SIGKILL)
        deadline = time.monotonic() + STOP_KILL_S
        while (any(p.poll() is None for p in started) or self.pids()) and time.monotonic() < deadline:
            time.sleep(0.1)  # killed processes take a moment to go

    def pids(self) -> list[int]:
        """PIDs still running in the nodes' process groups (empty once stopped)."""
        groups = {n.proc.pid for n in self.nodes.values() if n.proc is not None}
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if fields[0] != "Z" and int(fields[2]) in groups:  # state, pgrp; zombies are gone
                    found.append(int(entry))
        return found

    def tail(self, name: str, size: int = 2000) -> str:
        node = self.nodes[name]
        if node.log is None or not node.log.exists():
            return ""
        return node.log.read_text(errors="replace")[-size:]

    def worker_logs(self, since: float = 0.0) -> dict[str, str]:
        """What Ray's worker processes printed (``worker-*.out``/``.err`` of every node's session),
        for files changed at or after ``since`` (a ``time.time()``), by file name."""
        out: dict[str, str] = {}
        for path in sorted(self.temp.glob("session_*/logs/worker-*")):
            if path.suffix not in (".out", ".err") or path.is_symlink():
                continue
            try:
                if path.stat().st_mtime < since:
                    continue
                text = path.read_text(errors="replace")
            except OSError:
                continue
            text = "\n".join(line for line in text.splitlines() if not _MARKER.match(line)).strip()
            if text:
                out[path.name] = text
        return out


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
