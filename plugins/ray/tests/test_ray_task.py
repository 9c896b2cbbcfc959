"""Ray as a task type, written as for the anchor (flyteplugins.ray.task): the config's names, defaults
and checks, its KubeRay RayJob, and real runs: a task that gets a local cluster of its own (head + a
worker group of two nodes) for its duration, and one that joins an existing cluster by address."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import flyte
import pytest
import ray_task_flows as flows
from flyte.errors import InvalidParameterError
from flyte.extend import SerializationContext
from flyteplugins.ray import _local_job
from flyteplugins.ray.task import (
    AutoscalerOptionsConfig,
    HeadNodeConfig,
    RayFunctionTask,
    RayJobConfig,
    WorkerNodeConfig,
)
from ray_cluster import RayCluster


def _fields(cls: type) -> list[tuple[str, object]]:
    return [
        (f.name, f.default if f.default is not dataclasses.MISSING else "required")
        for f in dataclasses.fields(cls)
    ]


def test_config_classes_have_the_anchors_fields_and_defaults() -> None:
    assert _fields(RayJobConfig) == [
        ("worker_node_config", "required"),
        ("head_node_config", None),
        ("enable_autoscaling", False),
        ("autoscaler_options", None),
        ("runtime_env", None),
        ("address", None),
        ("shutdown_after_job_finishes", False),
        ("ttl_seconds_after_finished", None),
    ]
    assert _fields(HeadNodeConfig) == [
        ("ray_start_params", None),
        ("pod_template", None),
        ("requests", None),
        ("limits", None),
    ]
    assert _fields(WorkerNodeConfig) == [
        ("group_name", "required"),
        ("replicas", "required"),
        ("min_replicas", None),
        ("max_replicas", None),
        ("ray_start_params", None),
        ("pod_template", None),
        ("requests", None),
        ("limits", None),
    ]
    assert [f.name for f in dataclasses.fields(AutoscalerOptionsConfig)] == [
        "upscaling_mode",
        "idle_timeout_seconds",
        "image",
        "env",
        "resources",
    ]
    # positional use, as the anchor's dataclasses allow
    assert WorkerNodeConfig("g", 2).replicas == 2
    task = flows.hello_ray_nested
    assert isinstance(task, RayFunctionTask) and task.task_type == "ray"


def _one_replica() -> flyte.ReusePolicy:
    with pytest.warns(UserWarning, match="only one replica"):  # core's warning for Python pools
        return flyte.ReusePolicy(replicas=1, idle_ttl=60)


def test_bad_configs_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidParameterError, match="replicas"):
        WorkerNodeConfig(group_name="g", replicas=-1)
    with pytest.raises(InvalidParameterError, match="max_replicas"):
        WorkerNodeConfig(group_name="g", replicas=3, max_replicas=2)
    with pytest.raises(InvalidParameterError, match="node-ip-address"):
        HeadNodeConfig(ray_start_params={"node-ip-address": "10.0.0.1"})
    with pytest.raises(InvalidParameterError, match="worker_node_config"):
        RayJobConfig(worker_node_config=[WorkerNodeConfig("g", 1), WorkerNodeConfig("g", 2)])
    with pytest.raises(InvalidParameterError, match="worker_node_config"):
        RayJobConfig(worker_node_config={"group_name": "g"})  # type: ignore[arg-type]
    shared = flyte.TaskEnvironment(
        name="ray_shared_bad",
        plugin_config=RayJobConfig(worker_node_config=[], shutdown_after_job_finishes=True),
        reusable=_one_replica(),
    )
    with pytest.raises(InvalidParameterError, match="shutdown_after_job_finishes"):

        @shared.task
        def f() -> int:
            return 1


def test_custom_config_is_kuberays_rayjob() -> None:
    cfg = RayJobConfig(
        head_node_config=HeadNodeConfig(ray_start_params={"num-cpus": "0"}),
        worker_node_config=[
            WorkerNodeConfig(
                group_name="cpu",
                replicas=2,
                min_replicas=1,
                max_replicas=4,
                ray_start_params={"num-cpus": "1"},
            )
        ],
        runtime_env={"env_vars": {"A": "1"}},
        shutdown_after_job_finishes=True,
        ttl_seconds_after_finished=300,
    )
    env = flyte.TaskEnvironment(name="ray_spec", plugin_config=cfg)

    @env.task
    def job() -> int:
        return 1

    # the anchor's output for the same config (its RayJob protobuf as a dict)
    assert job.custom_config(SerializationContext()) == {
        "rayCluster": {
            "headGroupSpec": {"rayStartParams": {"num-cpus": "0"}},
            "workerGroupSpec": [
                {
                    "groupName": "cpu",
                    "replicas": 2,
                    "minReplicas": 1,
                    "maxReplicas": 4,
                    "rayStartParams": {"num-cpus": "1"},
                }
            ],
        },
        "runtimeEnv": "eyJlbnZfdmFycyI6IHsiQSI6ICIxIn19",
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 300,
        "runtimeEnvYaml": "env_vars:\n  A: '1'\n",
    }
    pod = flyte.PodTemplate(
        pod_spec={"containers": [{"name": "ray-worker", "env": [{"name": "X", "value": "1"}]}]}
    )
    with_pod = RayJobConfig(
        worker_node_config=[
            WorkerNodeConfig("gpu", 1, pod_template=pod, requests=flyte.Resources(cpu=2, memory="1Gi"))
        ]
    )
    env2 = flyte.TaskEnvironment(name="ray_spec_pod", plugin_config=with_pod)

    @env2.task
    def job2() -> int:
        return 1

    group = job2.custom_config(SerializationContext())["rayCluster"]["workerGroupSpec"][0]
    container = group["k8sPod"]["podSpec"]["containers"][0]
    assert container["env"] == [{"name": "X", "value": "1"}]  # the template's fields are kept
    assert container["resources"]["requests"] == {"cpu": "2", "memory": str(1024**3)}


def test_a_ray_task_gets_a_cluster_of_its_own_for_its_duration(home: Path) -> None:
    """Head + a group of two worker nodes on 127.0.0.10-12, the runtime_env applied, the workers'
    output kept in the action's log, and every process stopped when the task ends."""
    flows.seen_clusters.clear()
    run = flyte.run(flows.hello_ray_nested, n=4)
    out = run.outputs()[0]
    assert out["squares"] == [0, 1, 4, 9]
    assert out["nodes"] == ["127.0.0.10", "127.0.0.11", "127.0.0.12"]
    assert out["ips"] == ["127.0.0.11", "127.0.0.12"]  # both workers of the group ran tasks
    assert out["env"] == ["from-runtime-env"]
    assert out["greeting"] == "hello from a plain task"

    [cluster] = flows.seen_clusters
    assert cluster.pids() == [], "the task's Ray processes are left behind"
    assert not cluster.temp.exists()
    assert _local_job.running() == []

    logs = [p.read_text() for p in (home / "flyte-home" / "data" / "runs" / run.name).glob("*/logs/*.log")]
    assert any("squaring 3 on a Ray worker" in text for text in logs), logs


def test_a_ray_task_joins_an_existing_cluster_by_address(cluster: RayCluster, home: Path) -> None:
    flows.seen_clusters.clear()
    total = flows.total_on(cluster.gcs)
    t0 = time.monotonic()
    assert flyte.run(total, n=5).outputs()[0] == sum(i * i for i in range(5))
    assert flows.seen_clusters == []  # no local cluster was started
    assert cluster.pids()  # and the cluster it joined is still running
    assert time.monotonic() - t0 < 60


def test_a_reusable_environments_tasks_share_one_warm_cluster(home: Path) -> None:
    flows.seen_clusters.clear()
    (first, gcs_a), (second, gcs_b) = flyte.run(flows.driver, a=5, b=8).outputs()[0]
    assert (first, second) == (sum(i * i for i in range(5)), sum(i * i for i in range(8)))
    assert gcs_a == gcs_b  # one cluster for both tasks
    assert len({id(c) for c in flows.seen_clusters}) == 1
    [cluster] = _local_job.running()  # kept warm for ReusePolicy(idle_ttl=600)
    assert cluster.pids()
    _local_job.stop_all()  # what the process's exit does
    assert cluster.pids() == [] and _local_job.running() == []
