"""Adoption sample (issue 23): a host parent fans out to Python tasks run in containers of the test image.

Each child prints ``exec <i>``, then waits for ``go-<i>`` in the ``gate`` directory (mounted read-only,
so files the test creates later are seen); a ContainerTask (``waiter``, busybox) does the same with
``go-w``.
"""

from __future__ import annotations

import asyncio
import os

import flyte
from flyte.io import Dir
from flyteplugins.container import ContainerTask

IMAGE = os.environ.get("FLYTE_TEST_PYTHON_IMAGE", "localhost/flyte-python:test")
BUSYBOX = os.environ.get("FLYTE_TEST_BUSYBOX_IMAGE", "localhost/flyte-busybox:test")
host = flyte.TaskEnvironment(name="ctr_adopt_host")
in_image = flyte.TaskEnvironment(name="ctr_adopt_img", image=IMAGE)


@in_image.task
async def child(i: int, gate: Dir) -> int:
    print(f"exec {i}", flush=True)
    while not os.path.exists(os.path.join(gate.path, f"go-{i}")):
        await asyncio.sleep(0.05)
    return i * i


waiter = ContainerTask(
    name="ctr_adopt.waiter",
    image=BUSYBOX,
    command=[
        "sh",
        "-c",
        "echo exec w; while [ ! -e {{.inputs.gate}}/go-w ]; do sleep 0.05; done; echo 7 > /var/outputs/out",
    ],
    inputs={"gate": Dir},
    outputs={"out": int},
)


@host.task
async def main(n: int, gate: Dir) -> int:
    got = await asyncio.gather(waiter(gate=gate), *(child(i, gate) for i in range(n)))
    return sum(got)
