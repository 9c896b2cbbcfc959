"""Fixtures for tests on real Spark: a FLYTE_HOME per test, and a standalone master + worker on 127.0.0.1.

The cluster is started with the ``spark-class`` launcher that the pyspark wheel ships (it has no
``start-master.sh``), each daemon in its own process group, and stopped by those groups: teardown
asserts that no process of either group (executors included) is left.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "examples"


@pytest.fixture(autouse=True)
def flyte_home(flyte_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """flyte.testing's fixture (a fresh FLYTE_HOME and settings per test) for every test here."""
    return flyte_home


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def live_in_group(pgid: int) -> list[int]:
    """PIDs of processes (zombies excluded) in a process group, read from /proc."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            found.append(int(d.name))
    return found


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d.name))
    return out


def descendants(pid: int) -> list[int]:
    """All live descendants (pyspark's worker daemon leaves its executor's process group)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = children_of(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


@dataclass
class Cluster:
    """A running standalone master and worker."""

    url: str
    master_webui: int
    work_dir: Path
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.master_webui}/json/", timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.log_dir.glob("*.log")))


def _spark_class() -> tuple[Path, dict[str, str]]:
    import pyspark

    home = Path(pyspark.__file__).parent
    env = dict(os.environ)
    env.update(SPARK_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    return home / "bin" / "spark-class", env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        # Its own session = its own process group: the worker's executors join the worker's group.
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(what: str, ok: Any, cluster: Cluster, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in cluster.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args!r} exited with {p.returncode} before {what}\n{cluster.logs()}")
        try:
            if ok():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"timed out waiting for {what}\n{cluster.logs()}")


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while live_in_group(proc.pid) and time.monotonic() < deadline:  # executors exit after the worker
        time.sleep(0.2)
    if live_in_group(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A standalone master and one worker (1 core, 1 GiB), bound to 127.0.0.1 only."""
    spark_class, env = _spark_class()
    base = tmp_path_factory.mktemp("spark-cluster")
    work, logs = base / "work", base / "logs"
    work.mkdir()
    logs.mkdir()
    port, webui, worker_webui = free_port(), free_port(), free_port()
    cluster = Cluster(url=f"spark://127.0.0.1:{port}", master_webui=webui, work_dir=work, log_dir=logs)
    try:
        cluster.procs.append(
            _start(
                [
                    str(spark_class),
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(webui),
                ],
                env,
                logs / "master.log",
            )
        )
        _wait("the master's web UI", lambda: cluster.status()["status"] == "ALIVE", cluster)
        cluster.procs.append(
            _start(
                [
                    str(spark_class),
                    "org.apache.spark.deploy.worker.Worker",
                    cluster.url,
                    "--host",
                    "127.0.0.1",
                    "--webui-port",
                    str(worker_webui),
                    "--cores",
                    "1",
                    "--memory",
                    "1g",
                    "--work-dir",
                    str(work),
                ],
                env,
                logs / "worker.log",
            )
        )
        _wait("the worker to register", lambda: cluster.status().get("aliveworkers", 0) >= 1, cluster)
        yield cluster
    finally:
        from flyteplugins.spark import session_info, stop_session

        if session_info()["conf"].get("spark.master") == cluster.url:
            stop_session()  # the driver leaves the cluster before the cluster goes away
        spawned = [d for p in cluster.procs for d in descendants(p.pid)]  # executors, pyspark daemons
        for proc in reversed(cluster.procs):
            _stop_group(proc)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in spawned) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = {p.pid: live_in_group(p.pid) for p in cluster.procs}
        left_spawned = [p for p in spawned if _alive(p)]
        for p in left_spawned:
            os.kill(p, signal.SIGKILL)
        assert not any(left.values()) and not left_spawned, (
            f"processes left after stopping the cluster: groups {left}, descendants {left_spawned}"
        )
