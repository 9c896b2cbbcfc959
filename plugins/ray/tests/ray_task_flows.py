"""Anchor-style Ray task workflows (``TaskEnvironment(plugin_config=RayJobConfig(...))``), importable on
every Ray node (the tests' folder is on ``PYTHONPATH``)."""

from __future__ import annotations

import os

import flyte
import ray
from flyteplugins.ray import _local_job
from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig, WorkerNodeConfig

seen_clusters: list = []  # the local clusters the tasks ran on (this process, for the tests)


@ray.remote(num_cpus=1)
def square(x: int) -> tuple[int, str, str | None]:
    import time

    print(f"squaring {x} on a Ray worker")
    time.sleep(1.0)  # each worker node has one CPU: tasks that overlap must use both nodes
    ip = ray.util.get_node_ip_address()
    return x * x, ip, os.environ.get("FLYTE_RAY_JOB_VAR")


ray_config = RayJobConfig(
    head_node_config=HeadNodeConfig(ray_start_params={"num-cpus": "0"}),
    worker_node_config=[
        WorkerNodeConfig(group_name="ray-group", replicas=2, ray_start_params={"num-cpus": "1"})
    ],
    runtime_env={"env_vars": {"FLYTE_RAY_JOB_VAR": "from-runtime-env"}},
    enable_autoscaling=False,
    shutdown_after_job_finishes=True,
)

task_env = flyte.TaskEnvironment(name="hello_ray")
ray_env = flyte.TaskEnvironment(name="ray_env", plugin_config=ray_config, depends_on=[task_env])


@task_env.task
async def hello_ray() -> str:
    return "hello from a plain task"


@ray_env.task
async def hello_ray_nested(n: int = 3) -> dict:
    seen_clusters.extend(_local_job.running())
    greeting = await hello_ray()  # a flyte child task, called from the Ray job's driver
    out = ray.get([square.remote(i) for i in range(n)])
    return {
        "squares": [o[0] for o in out],
        "ips": sorted({o[1] for o in out}),
        "env": sorted({str(o[2]) for o in out}),
        "nodes": sorted(n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]),
        "greeting": greeting,
    }


def existing_cluster_env(address: str) -> flyte.TaskEnvironment:
    """An environment whose tasks join the cluster at ``address`` instead of starting one."""
    return flyte.TaskEnvironment(
        name="ray_existing",
        plugin_config=RayJobConfig(worker_node_config=[], address=address),
    )


def total_on(address: str) -> flyte.TaskTemplate:
    env = existing_cluster_env(address)

    @env.task
    def total(n: int) -> int:
        seen_clusters.extend(_local_job.running())
        return sum(x for x, _, _ in ray.get([square.remote(i) for i in range(n)]))

    return total


# ---- a reusable environment: its tasks share one warm cluster --------------------------------------
def _shared_env() -> flyte.TaskEnvironment:
    import warnings

    with warnings.catch_warnings():  # one replica is the point here: one shared cluster
        warnings.simplefilter("ignore", UserWarning)
        reuse = flyte.ReusePolicy(replicas=1, idle_ttl=600, scope="run")
    return flyte.TaskEnvironment(
        name="reusable_ray_env",
        plugin_config=RayJobConfig(
            head_node_config=HeadNodeConfig(ray_start_params={"num-cpus": "1"}), worker_node_config=[]
        ),
        reusable=reuse,
    )


reusable_ray_env = _shared_env()
driver_env = flyte.TaskEnvironment(name="flyte_driver_env", depends_on=[reusable_ray_env])


@ray.remote
def plain_square(x: int) -> int:
    return x * x


@reusable_ray_env.task
async def sum_of_squares(n: int) -> list:
    seen_clusters.extend(_local_job.running())
    gcs = ray.get_runtime_context().gcs_address
    return [sum(ray.get([plain_square.remote(i) for i in range(n)])), gcs]


@driver_env.task
async def driver(a: int = 5, b: int = 8) -> list:
    import asyncio

    first, second = await asyncio.gather(sum_of_squares(a), sum_of_squares(b))
    return [first, second]
