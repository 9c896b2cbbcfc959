"""On the cluster: records and values in a real S3-compatible server, plugin task types on the driver."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flyte
import pytest
import ray_flows as flows
from flyte.extend import ExecutionContext, NativeInterface, TaskTemplate
from ray_cluster import WORKER_B, WORKER_C, RayCluster

moto = pytest.importorskip("flyteplugins.s3.testing", reason="flyte-plugin-s3[test] is not installed")


@pytest.fixture(scope="module")
def s3_server() -> Iterator[Any]:
    with moto.MotoServer() as server:
        yield server


def test_large_inputs_and_outputs_travel_through_s3(on_ray: RayCluster, s3_server: Any, home: Path) -> None:
    """Above the inline limit (16 KiB), the nodes read inputs from and write outputs to the bucket;
    small values ride in the Ray task, as Ray passes small arguments."""
    bucket = "ray-runs"
    s3_server.create_bucket(bucket)
    flyte.init(
        executor=on_ray.direct, raw_data_path=f"s3://{bucket}/data", storage=s3_server.storage_options()
    )
    run = flyte.with_runcontext(name="on-ray-s3").run(flows.big_roundtrip, n=50_000)
    assert run.outputs()[0] == sum(range(50_000))
    client = s3_server.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="data/runs/on-ray-s3/").get("Contents", [])
    hand_overs = [o for o in listed if o["Key"].rsplit("/", 1)[-1].startswith("wire-")]
    # big_value's output (written by a node), total's input (by the driver) and total's small output
    # (inline): two hand-overs of about 300 KB each
    assert len(hand_overs) == 2, [o["Key"] for o in listed]
    assert all(o["Size"] > 100_000 for o in hand_overs)
    small = flyte.with_runcontext(name="on-ray-s3-small").run(flows.nested, n=3)
    assert [r["total"] for r in small.outputs()[0]] == [5, 14]
    listed = client.list_objects_v2(Bucket=bucket, Prefix="data/runs/on-ray-s3-small/").get("Contents", [])
    assert not [o for o in listed if "/wire-" in o["Key"]]
    # the run's record is in the bucket too, with every action that ran on the cluster
    from flyte._runtime.records import read_record
    from flyte._runtime.store import store_for

    prefix = f"s3://{bucket}/data/runs/on-ray-s3"
    rows = read_record(store_for(prefix), prefix)[1]
    names = sorted(r["task_name"] for r in rows if r.get("kind", "task") == "task")
    assert names == ["ray_flows.big_roundtrip", "ray_flows.big_value", "ray_flows.total"], names
    # the credentials never travel: only the endpoint does (the nodes use their own credential chain)
    journal = (home / "flyte-home" / "journal.db").read_bytes()
    assert os.environ["AWS_SECRET_ACCESS_KEY"].encode() not in journal


# ---- a plugin task type: its backend runs on the driver, next to the controller -------------------
class ProbeBackend:
    """Stands for a connector or a Spark client: it runs where the controller runs."""

    async def run(self, task: TaskTemplate[Any, Any], inputs: dict[str, Any], ctx: ExecutionContext) -> int:
        return os.getpid() + 0 * inputs["x"]


@dataclass(kw_only=True)
class ProbeTask(TaskTemplate[..., int]):  # type: ignore[misc]
    task_type: str = "ray_test_probe"


@pytest.fixture
def probe_type() -> Iterator[None]:
    from flyte._plugins.manager import load_plugins

    registry = load_plugins().task_types  # what a plugin's flyte_register_task_types hook fills
    registry.add("ray_test_probe", 0, ProbeTask, backend=ProbeBackend)
    try:
        yield
    finally:
        registry.entries.pop(("ray_test_probe", 0), None)


probe = ProbeTask(name="ray_flows.probe", interface=NativeInterface.from_types({"x": int}, int))


def test_plugin_task_types_run_on_the_driver_while_functions_run_on_nodes(
    on_ray: RayCluster, probe_type: None
) -> None:
    @flows.env.task
    async def mixed() -> dict[str, Any]:
        pid = await probe(x=1)
        plain = await flows.node_of("plain")
        return {"probe_pid": pid, "plain": plain}

    out = flyte.run(mixed).outputs()[0]
    assert out["probe_pid"] == os.getpid()
    assert out["plain"]["node"] in (WORKER_B, WORKER_C) and out["plain"]["pid"] != os.getpid()
