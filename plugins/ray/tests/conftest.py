"""One real Ray cluster for the session (three nodes on 127.0.0.2-4), and a fresh flyte home per test."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import flyte
import flyte._config
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # ray_flows / ray_cluster, importable on every node too
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH")) if p
)

from flyteplugins.ray._cluster import STOP_GRACE_S, STOP_KILL_S
from ray_cluster import RayCluster, ray_bin, start_cluster


def _loopback_ok() -> bool:
    import socket

    try:
        with socket.socket() as s:
            s.bind(("127.0.0.4", 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    if ray_bin() is None:
        pytest.skip("ray is not installed (pip install 'flyte-plugin-ray[test]')")
    if not _loopback_ok():
        pytest.skip("this machine cannot bind 127.0.0.2-4 (loopback addresses beyond 127.0.0.1)")
    c = start_cluster()
    try:
        yield c
    finally:
        from flyteplugins.ray._executor import disconnect

        disconnect()
        t0 = time.monotonic()
        c.stop()
        took = time.monotonic() - t0
        left = c.pids()
        if not left:
            shutil.rmtree(c.temp, ignore_errors=True)  # the nodes' session logs and sockets
        assert not left, f"Ray processes left behind: {left}"
        assert took < STOP_GRACE_S + STOP_KILL_S, f"stopping the cluster took {took:.1f}s"


@pytest.fixture
def home(flyte_home: Path) -> Path:
    """The test's directory; flyte.testing's ``flyte_home`` (FLYTE_HOME) is ``home / "flyte-home"``."""
    return flyte_home.parent


@pytest.fixture
def on_ray(cluster: RayCluster, home: Path) -> RayCluster:
    """flyte pointed at the cluster (the driver joins it directly, as on a node of the cluster)."""
    flyte.init(executor=cluster.direct)
    return cluster
