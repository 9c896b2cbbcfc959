"""Ray as a task type: ``TaskEnvironment(plugin_config=RayJobConfig(...))`` gives each task a Ray cluster.

```python
from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig, WorkerNodeConfig

env = flyte.TaskEnvironment(
    name="ray_env",
    plugin_config=RayJobConfig(
        head_node_config=HeadNodeConfig(ray_start_params={"num-cpus": "0"}),
        worker_node_config=[WorkerNodeConfig(group_name="cpu", replicas=2)],
        shutdown_after_job_finishes=True,
    ),
)

@env.task
async def squares(n: int) -> list[int]:
    return ray.get([square.remote(i) for i in range(n)])    # this process is the cluster's driver
```

On a Kubernetes cluster the config is a KubeRay ``RayJob`` (``custom_config``). Locally the task's
process joins a cluster for the task's duration: the one at ``address`` when given, else a cluster of
local processes started from the config (a head and ``replicas`` nodes per worker group, each on its
own loopback address, see :mod:`flyteplugins.ray._local_job`), with ``runtime_env`` for the job. What the
cluster's workers printed is kept in the action's log.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flyte import Resources
from flyte.errors import InvalidParameterError
from flyte.extend import AsyncFunctionTaskTemplate, SerializationContext
from typing_extensions import ParamSpec

P = ParamSpec("P")
R = TypeVar("R")

TASK_TYPE = "ray"
_RESERVED_PARAMS = frozenset(
    {"address", "block", "head", "node-ip-address", "port", "ray-client-server-port", "temp-dir"}
)
"""``ray start`` options the local cluster sets itself (each node's address, ports, temp dir)."""


def _start_params(owner: str, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, (str, int, float, bool)) for k, v in value.items()
    ):
        raise InvalidParameterError(
            owner,
            "ray_start_params",
            value,
            "Use a dict of `ray start` option names (without '--') to values, e.g. {'num-cpus': '2'}.",
        )
    params = {k.removeprefix("--"): str(v) for k, v in value.items()}
    taken = sorted(_RESERVED_PARAMS & set(params))
    if taken:
        raise InvalidParameterError(
            owner,
            "ray_start_params",
            value,
            f"Leave out {taken}: each node's address, ports and temp dir are set for it.",
        )
    return params


def _resources(owner: str, param: str, value: Any) -> None:
    if value is not None and not isinstance(value, Resources):
        raise InvalidParameterError(owner, param, value, "Use flyte.Resources(cpu=..., memory=...).")


def _pod_template(owner: str, value: Any) -> None:
    if value is not None and not hasattr(value, "primary_container_name"):
        raise InvalidParameterError(owner, "pod_template", value, "Use flyte.PodTemplate(pod_spec=...).")


@dataclass
class AutoscalerOptionsConfig:
    """The KubeRay autoscaler sidecar (used on Kubernetes only; a local cluster does not autoscale)."""

    class UpscalingMode:
        UNSPECIFIED = 0
        DEFAULT = 1
        AGGRESSIVE = 2
        CONSERVATIVE = 3

    upscaling_mode: int | None = None
    idle_timeout_seconds: int | None = None
    image: str | None = None
    env: dict[str, str] | None = None
    resources: Resources | None = None


@dataclass
class HeadNodeConfig:
    """The head node: ``ray start`` options (``{"num-cpus": "0"}``), its pod and resources."""

    ray_start_params: dict[str, str] | None = None
    pod_template: Any = None
    requests: Resources | None = None
    limits: Resources | None = None

    def __post_init__(self) -> None:
        self.ray_start_params = _start_params("HeadNodeConfig", self.ray_start_params)
        _pod_template("HeadNodeConfig", self.pod_template)
        _resources("HeadNodeConfig", "requests", self.requests)
        _resources("HeadNodeConfig", "limits", self.limits)


@dataclass
class WorkerNodeConfig:
    """A group of ``replicas`` identical worker nodes."""

    group_name: str
    replicas: int
    min_replicas: int | None = None
    max_replicas: int | None = None
    ray_start_params: dict[str, str] | None = None
    pod_template: Any = None
    requests: Resources | None = None
    limits: Resources | None = None

    def __post_init__(self) -> None:
        owner = f"WorkerNodeConfig(group_name={self.group_name!r})"
        if not isinstance(self.group_name, str) or not self.group_name:
            raise InvalidParameterError(
                owner, "group_name", self.group_name, "Use a non-empty name, e.g. 'cpu'."
            )
        for param in ("replicas", "min_replicas", "max_replicas"):
            v = getattr(self, param)
            if (v is not None or param == "replicas") and (
                isinstance(v, bool) or not isinstance(v, int) or v < 0
            ):
                raise InvalidParameterError(owner, param, v, "Use a whole number of nodes, 0 or more.")
        if self.min_replicas is not None and self.min_replicas > self.replicas:
            raise InvalidParameterError(
                owner, "min_replicas", self.min_replicas, f"Use at most replicas ({self.replicas})."
            )
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            raise InvalidParameterError(
                owner, "max_replicas", self.max_replicas, f"Use at least replicas ({self.replicas})."
            )
        self.ray_start_params = _start_params(owner, self.ray_start_params)
        _pod_template(owner, self.pod_template)
        _resources(owner, "requests", self.requests)
        _resources(owner, "limits", self.limits)


@dataclass
class RayJobConfig:
    """A Ray job: the cluster (head and worker groups) or an existing cluster's ``address``, the job's
    ``runtime_env``, and when the cluster goes (``shutdown_after_job_finishes``,
    ``ttl_seconds_after_finished``)."""

    worker_node_config: list[WorkerNodeConfig]
    head_node_config: HeadNodeConfig | None = None
    enable_autoscaling: bool = False
    autoscaler_options: AutoscalerOptionsConfig | None = None
    runtime_env: dict[str, Any] | None = None
    address: str | None = None
    shutdown_after_job_finishes: bool = False
    ttl_seconds_after_finished: int | None = None

    def __post_init__(self) -> None:
        owner = "RayJobConfig"
        groups = self.worker_node_config
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, WorkerNodeConfig) for g in groups):
            raise InvalidParameterError(
                owner,
                "worker_node_config",
                groups,
                "Use a list of WorkerNodeConfig(group_name=..., replicas=...) ([] for a head-only cluster).",
            )
        names = [g.group_name for g in groups]
        if len(set(names)) != len(names):
            raise InvalidParameterError(
                owner, "worker_node_config", names, "Give each worker group its own name."
            )
        self.worker_node_config = list(groups)
        if self.head_node_config is not None and not isinstance(self.head_node_config, HeadNodeConfig):
            raise InvalidParameterError(
                owner, "head_node_config", self.head_node_config, "Use HeadNodeConfig(...) or None."
            )
        if self.runtime_env is not None and not isinstance(self.runtime_env, Mapping):
            raise InvalidParameterError(
                owner,
                "runtime_env",
                self.runtime_env,
                "Use a Ray runtime_env dict, e.g. {'env_vars': {'K': 'v'}}.",
            )
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise InvalidParameterError(
                owner,
                "address",
                self.address,
                "Use 'HOST:PORT' (the head's GCS), 'ray://HOST:10001' or None.",
            )
        ttl = self.ttl_seconds_after_finished
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0):
            raise InvalidParameterError(
                owner, "ttl_seconds_after_finished", ttl, "Use whole seconds, 0 or more."
            )

    def key(self) -> str:
        """Identity of the cluster this config describes (equal configs share a warm local cluster)."""
        return repr(self)


def _resource_map(r: Resources | None, which: str) -> dict[str, str] | None:
    if r is None:
        return None
    out: dict[str, str] = {}
    cpu = r.cpu_request() if which == "requests" else r.cpu_limit()
    mem = r.memory_request_bytes() if which == "requests" else r.memory_limit_bytes()
    if cpu is not None:
        out["cpu"] = f"{cpu:g}"
    if mem is not None:
        out["memory"] = str(mem)
    if r.gpu_count():
        out["nvidia.com/gpu"] = str(r.gpu_count())
    return out or None


def _node_pod(pod_template: Any, requests: Resources | None, limits: Resources | None, container: str) -> Any:
    """The node's pod as a dict: its template (if any) with the node's resources on the Ray container."""
    if pod_template is None and requests is None and limits is None:
        return None
    from flyte._pod import pod_spec_dict

    spec = pod_spec_dict(pod_template.pod_spec) if pod_template is not None else {}
    name = pod_template.primary_container_name if pod_template is not None else container
    containers = spec.setdefault("containers", [])
    primary = next((c for c in containers if c.get("name") == name), None)
    if primary is None and len(containers) == 1:
        primary = containers[0]
    if primary is None:
        primary = {"name": name}
        containers.append(primary)
    res = primary.setdefault("resources", {})
    for which, r in (("requests", requests), ("limits", limits)):
        m = _resource_map(r, which)
        if m:
            res[which] = {**res.get(which, {}), **m}
    pod: dict[str, Any] = {"podSpec": spec, "primaryContainerName": name}
    meta = {
        k: dict(v)
        for k, v in (
            ("labels", getattr(pod_template, "labels", None)),
            ("annotations", getattr(pod_template, "annotations", None)),
        )
        if v
    }
    if meta:
        pod["metadata"] = meta
    return pod


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, {}, [], False, 0, "")}


@dataclass(kw_only=True)
class RayFunctionTask(AsyncFunctionTaskTemplate[P, R]):
    """A function task whose body runs as the driver of a Ray job (task type ``"ray"``)."""

    task_type: str = TASK_TYPE
    plugin_config: RayJobConfig = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = f"@env.task on {self.name}"
        if not isinstance(self.plugin_config, RayJobConfig):
            raise InvalidParameterError(owner, "plugin_config", self.plugin_config, "Use RayJobConfig(...).")
        reuse, cfg = self.reusable, self.plugin_config
        if reuse is not None:
            if reuse.max_replicas != 1:
                raise InvalidParameterError(
                    owner,
                    "reusable.replicas",
                    reuse.replicas,
                    "A reusable Ray environment is one shared cluster: use ReusePolicy(replicas=1).",
                )
            if reuse.concurrency != 1:
                raise InvalidParameterError(
                    owner, "reusable.concurrency", reuse.concurrency, "Leave concurrency at 1 for Ray tasks."
                )
            if cfg.shutdown_after_job_finishes:
                raise InvalidParameterError(
                    owner,
                    "plugin_config.shutdown_after_job_finishes",
                    True,
                    "A shared cluster outlives each job: remove it and set ReusePolicy(idle_ttl=...).",
                )
            if cfg.ttl_seconds_after_finished is not None:
                raise InvalidParameterError(
                    owner,
                    "plugin_config.ttl_seconds_after_finished",
                    cfg.ttl_seconds_after_finished,
                    "With a ReusePolicy the shared cluster stops after ReusePolicy(idle_ttl=...): remove it.",
                )

    # ---- the KubeRay RayJob (serialisation) ------------------------------------------------------
    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        """The RayJob in KubeRay's field names (what the Ray operator runs on Kubernetes)."""
        cfg = self.plugin_config
        head = cfg.head_node_config
        cluster: dict[str, Any] = {
            "workerGroupSpec": [
                _drop_none(
                    {
                        "groupName": g.group_name,
                        "replicas": g.replicas,
                        "minReplicas": g.min_replicas,
                        "maxReplicas": g.max_replicas,
                        "rayStartParams": g.ray_start_params,
                        "k8sPod": _node_pod(g.pod_template, g.requests, g.limits, "ray-worker"),
                    }
                )
                for g in cfg.worker_node_config
            ],
            "enableAutoscaling": cfg.enable_autoscaling,
        }
        if head is not None:
            cluster["headGroupSpec"] = _drop_none(
                {
                    "rayStartParams": head.ray_start_params,
                    "k8sPod": _node_pod(head.pod_template, head.requests, head.limits, "ray-head"),
                }
            )
        a = cfg.autoscaler_options
        if a is not None:
            cluster["autoscalerOptions"] = _drop_none(
                {
                    "upscalingMode": a.upscaling_mode,
                    "idleTimeoutSeconds": a.idle_timeout_seconds,
                    "image": a.image,
                    "env": [{"key": k, "value": v} for k, v in (a.env or {}).items()],
                }
            )
        job: dict[str, Any] = {
            "rayCluster": _drop_none(cluster),
            "shutdownAfterJobFinishes": cfg.shutdown_after_job_finishes,
            "ttlSecondsAfterFinished": cfg.ttl_seconds_after_finished,
        }
        if cfg.runtime_env:
            import yaml

            job["runtimeEnv"] = base64.b64encode(json.dumps(cfg.runtime_env).encode()).decode()
            job["runtimeEnvYaml"] = yaml.safe_dump(dict(cfg.runtime_env))
        return _drop_none(job)

    # ---- running ---------------------------------------------------------------------------------
    async def execute(self, **inputs: Any) -> Any:
        """Join the job's cluster (starting it locally when it has no ``address``), run the body as
        the job's driver, then leave it (and stop it when nothing else will use it)."""
        import asyncio

        from flyteplugins.ray import _local_job

        lease = await asyncio.to_thread(_local_job.acquire, self)
        try:
            return await super().execute(**inputs)
        finally:
            await asyncio.to_thread(_local_job.release, lease)

    def forward(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """A plain call (outside a run) also gets the cluster, so the function can be unit-tested."""
        from flyteplugins.ray import _local_job

        if not self.is_sync:
            return self._forward_async(args, kwargs)  # type: ignore[return-value]
        lease = _local_job.acquire(self)
        try:
            return self.func(*args, **kwargs)
        finally:
            _local_job.release(lease)

    async def _forward_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        import asyncio

        from flyteplugins.ray import _local_job

        lease = await asyncio.to_thread(_local_job.acquire, self)
        try:
            return await self.func(*args, **kwargs)  # type: ignore[misc]
        finally:
            await asyncio.to_thread(_local_job.release, lease)


__all__ = ["AutoscalerOptionsConfig", "HeadNodeConfig", "RayFunctionTask", "RayJobConfig", "WorkerNodeConfig"]
