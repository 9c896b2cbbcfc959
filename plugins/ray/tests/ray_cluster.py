"""A real three-node Ray cluster on loopback addresses, for the tests and the benchmark.

The nodes are started and stopped by the plugin's own :class:`~flyteplugins.ray._cluster.LocalCluster`
(the ``ray`` task type starts its clusters with it too): 127.0.0.2 (head, no CPUs, so killing a worker
node never kills the cluster), 127.0.0.3 and 127.0.0.4. Every process shares one auth setting
(``RAY_AUTH_MODE=disabled``) and fast health checks, so a killed node is noticed in about 2 s. Ray's
servers listen on every interface; the test session runs in a network namespace where only loopback
exists (``[tool.flyte.tests] private-network``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from flyteplugins.ray._cluster import BASE_ENV, LocalCluster, free_port, ray_bin

__all__ = [
    "ENV",
    "HEAD",
    "WORKER_B",
    "WORKER_C",
    "RayCluster",
    "describe",
    "free_port",
    "ray_bin",
    "start_cluster",
]

HEAD = "127.0.0.2"
WORKER_B = "127.0.0.3"  # 2 CPUs, 6 GiB: where big CPU/memory actions land
WORKER_C = "127.0.0.4"  # 1 CPU, one logical H100 (no real GPU here: Ray's GPU accounting is logical)
ENV = {
    **BASE_ENV,
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_failure_threshold": "4",
    "RAY_health_check_initial_delay_ms": "500",
    # The nodes' own credential chain for the S3-compatible test server (a node's role, on a cloud).
    "AWS_ACCESS_KEY_ID": "AKIAFLYTERAYTEST",
    "AWS_SECRET_ACCESS_KEY": "flyte-ray-test-secret-" + os.urandom(6).hex(),
    "AWS_EC2_METADATA_DISABLED": "true",
}
GiB = 1024**3

RayCluster = LocalCluster  # the tests' name for it; nodes are keyed by their address


def start_cluster(temp: str | None = None) -> LocalCluster:
    # Ray's socket paths must stay short (AF_UNIX limit): a short temp dir of its own.
    base = Path(temp or tempfile.mkdtemp(prefix="flyte-ray-"))
    os.environ.update(ENV)  # the driver (this process) uses the same auth settings as the nodes
    c = LocalCluster(base, env=ENV)
    c.add_node(HEAD, HEAD, ["--num-cpus=0", f"--memory={1 * GiB}"], head=True)
    c.add_node(WORKER_B, WORKER_B, ["--num-cpus=2", f"--memory={6 * GiB}"])
    c.add_node(
        WORKER_C,
        WORKER_C,
        [
            "--num-cpus=1",
            "--num-gpus=1",
            f"--memory={2 * GiB}",
            "--resources=" + json.dumps({"accelerator_type:H100": 1}),
        ],
    )
    return c.start()


def describe(cluster: LocalCluster) -> dict[str, Any]:
    return {"direct": cluster.direct, "client": cluster.client, "nodes": list(cluster.nodes)}
