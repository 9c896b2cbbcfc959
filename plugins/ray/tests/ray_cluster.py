"""A real three-node Ray cluster on loopback addresses, for the tests and the benchmark.

Each node is one ``ray start --block`` process in a process group of its own, advertising
127.0.0.2 (head), 127.0.0.3 or 127.0.0.4 as its address (``--node-ip-address``: Ray would otherwise
put the machine's other address in its tables). It is stopped by the PIDs started here: SIGTERM to
each group (``--block`` then stops the node's raylet, GCS and workers), SIGKILL after a grace period.
Every process shares one auth setting (``RAY_AUTH_MODE=disabled``) and fast health checks, so a
killed node is noticed in about 2 s. Ray's servers listen on every interface; the test session runs
in a network namespace where only loopback exists (``[tool.flyte.tests] private-network``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEAD = "127.0.0.2"
WORKER_B = "127.0.0.3"  # 2 CPUs, 6 GiB: where big CPU/memory actions land
WORKER_C = "127.0.0.4"  # 1 CPU, one logical H100 (no real GPU here: Ray's GPU accounting is logical)
ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_failure_threshold": "4",
    "RAY_health_check_initial_delay_ms": "500",
    # The nodes' own credential chain for the S3-compatible test server (a node's role, on a cloud).
    "AWS_ACCESS_KEY_ID": "AKIAFLYTERAYTEST",
    "AWS_SECRET_ACCESS_KEY": "flyte-ray-test-secret-" + os.urandom(6).hex(),
    "AWS_EC2_METADATA_DISABLED": "true",
}
GiB = 1024**3


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
    ip: str
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None


@dataclass
class RayCluster:
    """Three nodes; ``gcs`` is the head's GCS address, ``client`` its Ray Client address."""

    temp: Path
    gcs_port: int = 0
    client_port: int = 0
    nodes: dict[str, Node] = field(default_factory=dict)

    @property
    def direct(self) -> str:
        return f"ray+direct://{HEAD}:{self.gcs_port}"

    @property
    def client(self) -> str:
        return f"ray://{HEAD}:{self.client_port}"

    def start(self, timeout: float = 120.0) -> RayCluster:
        os.environ.update(ENV)  # the driver (this process) uses the same auth settings as the nodes
        self.gcs_port = free_port(HEAD)
        self.client_port = free_port(HEAD)
        common = ["--disable-usage-stats", "--block"]
        self.nodes[HEAD] = Node(
            HEAD,
            [
                "--head",
                f"--port={self.gcs_port}",
                f"--ray-client-server-port={self.client_port}",
                "--num-cpus=0",  # the head runs no actions: killing a worker node never kills the cluster
                f"--memory={1 * GiB}",
                f"--temp-dir={self.temp}",
                "--include-dashboard=false",
                *common,
            ],
        )
        address = f"--address={HEAD}:{self.gcs_port}"
        self.nodes[WORKER_B] = Node(WORKER_B, [address, "--num-cpus=2", f"--memory={6 * GiB}", *common])
        self.nodes[WORKER_C] = Node(
            WORKER_C,
            [
                address,
                "--num-cpus=1",
                "--num-gpus=1",
                f"--memory={2 * GiB}",
                "--resources=" + json.dumps({"accelerator_type:H100": 1}),
                *common,
            ],
        )
        try:
            for ip in (HEAD, WORKER_B, WORKER_C):  # one at a time: two cores start one node quickest
                self._launch(self.nodes[ip])
                self._wait_started(self.nodes[ip], timeout)
        except BaseException:
            self.stop()  # a failed start leaves nothing running
            raise
        return self

    def _launch(self, node: Node) -> None:
        binary = ray_bin()
        assert binary is not None
        node.log = self.temp / f"node-{node.ip}.log"
        env = dict(os.environ, **ENV)
        with open(node.log, "ab") as log:
            node.proc = subprocess.Popen(
                [binary, "start", f"--node-ip-address={node.ip}", *node.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its own process group: stopped as one, by this PID
            )

    def _wait_started(self, node: Node, timeout: float) -> None:
        """Until the node's ``ray start`` says it runs (it has registered with the GCS by then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise RuntimeError(f"Ray node {node.ip} exited: {self._tail(node)}")
            if node.log is not None and b"Ray runtime started" in node.log.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"Ray node {node.ip} did not start in {timeout:g}s: {self._tail(node)}")

    def kill_node(self, ip: str) -> None:
        """Kill a node outright (SIGKILL to its whole process group), as a machine that dies."""
        node = self.nodes[ip]
        if node.proc is not None:
            _signal_group(node.proc, signal.SIGKILL)
            node.proc.wait(30)

    def restart_node(self, ip: str, timeout: float = 120.0) -> None:
        node = self.nodes[ip]
        if node.log is not None and node.log.exists():
            node.log.rename(node.log.with_suffix(f".{int(time.time())}.log"))
        self._launch(node)
        self._wait_started(node, timeout)

    def stop(self) -> None:
        """Stop every node by the PID started here (workers first, the head last)."""
        for ip in (WORKER_C, WORKER_B, HEAD):
            node = self.nodes.get(ip)
            if node is None or node.proc is None:
                continue
            _signal_group(node.proc, signal.SIGTERM)
            try:
                node.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(node.proc, signal.SIGKILL)  # whatever of the group is left
            try:
                node.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 15
        while self.pids() and time.monotonic() < deadline:  # killed processes take a moment to go
            time.sleep(0.1)

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

    def _tail(self, node: Node) -> str:
        if node.log is None or not node.log.exists():
            return ""
        return node.log.read_text(errors="replace")[-2000:]


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start_cluster(temp: str | None = None) -> RayCluster:
    base = Path(temp or tempfile.mkdtemp(prefix="flyte-ray-"))
    # Ray's socket paths must stay short (AF_UNIX limit): a short temp dir of its own.
    return RayCluster(base).start()


def describe(cluster: RayCluster) -> dict[str, Any]:
    return {"direct": cluster.direct, "client": cluster.client, "nodes": list(cluster.nodes)}
