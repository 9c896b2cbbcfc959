"""Estimate pi with a Ray task: the task's body is a Ray program, run on a Ray cluster of its own.

    pip install flyte-plugin-ray           # from a checkout: pip install -e core -e plugins/ray
    python plugins/ray/examples/ray_pi.py
    flyte run plugins/ray/examples/ray_pi.py main --shards 4 --samples 20000

Run here, ``estimate_pi`` starts a small local Ray cluster for its duration (``ray start``: a head
node on 127.0.0.10) and stops it by PID when it ends; on Kubernetes the same
``RayJobConfig`` is a KubeRay RayJob. Ray's servers listen on every interface: run it where that is
acceptable (a private network namespace, e.g. ``unshare -rn sh -c 'ip link set lo up && exec ...'``).
``main`` is a plain task that calls the Ray task and rounds the result.
"""

from __future__ import annotations

import random

import flyte
from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig

# A head-only cluster keeps the example quick; add WorkerNodeConfig(group_name="cpu", replicas=2) to
# the list for worker nodes (each on the next loopback address here, a pod group on KubeRay).
ray_config = RayJobConfig(
    head_node_config=HeadNodeConfig(ray_start_params={"num-cpus": "2"}),
    worker_node_config=[],
    shutdown_after_job_finishes=True,
)
ray_env = flyte.TaskEnvironment(name="ray_pi", plugin_config=ray_config)
env = flyte.TaskEnvironment(name="pi", depends_on=[ray_env])


def inside(seed: int, samples: int) -> int:
    """Points of a seeded random sample that fall inside the unit quarter-circle."""
    rng = random.Random(seed)
    return sum(rng.random() ** 2 + rng.random() ** 2 <= 1.0 for _ in range(samples))


@ray_env.task
async def estimate_pi(shards: int, samples: int) -> float:
    import ray

    count = ray.remote(num_cpus=1)(inside)  # shards spread over the cluster's nodes
    hits = ray.get([count.remote(seed, samples) for seed in range(shards)])
    return 4.0 * sum(hits) / (shards * samples)


@env.task
async def main(shards: int = 4, samples: int = 20_000) -> float:
    return round(await estimate_pi(shards, samples), 2)


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main, shards=4, samples=20_000)
    print(run.name, run.outputs()[0])
