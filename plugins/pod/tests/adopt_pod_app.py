"""Pod adoption sample (issue 23): a host parent fans out to ``n`` pod tasks.

Each pod appends ``exec <i>`` to ``execs.log`` in the folder named by ``$FLYTE_TEST_POD_ADOPT_DIR``
(a hostPath volume, so the host sees every execution), then waits for ``go-<i>`` to appear there.
"""

from __future__ import annotations

import asyncio
import os

import flyte
from flyteplugins.pod import Pod

IMAGE = os.environ.get("FLYTE_TEST_PYTHON_IMAGE", "localhost/flyte-python:test")
SIDE = os.environ.get("FLYTE_TEST_POD_ADOPT_DIR", "/tmp/flyte-pod-adopt")

host = flyte.TaskEnvironment(name="pod_adopt_host")
pods = flyte.TaskEnvironment(
    name="pod_adopt",
    image=IMAGE,
    plugin_config=Pod(
        pod_spec={
            "containers": [{"name": "primary", "volumeMounts": [{"name": "side", "mountPath": "/side"}]}],
            "volumes": [{"name": "side", "hostPath": {"path": SIDE, "type": "Directory"}}],
        }
    ),
)


@pods.task
async def child(i: int) -> int:
    with open("/side/execs.log", "a") as f:
        f.write(f"exec {i}\n")
    while not os.path.exists(f"/side/go-{i}"):
        await asyncio.sleep(0.05)
    return i * i + 1


@host.task
async def main(n: int) -> int:
    got = await asyncio.gather(*(child(i) for i in range(n)))
    return sum(got)
