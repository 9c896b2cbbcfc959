"""The clusters ``ray`` tasks run on, in this process: started, shared, joined and stopped.

A process has one Ray driver connection (``ray.init``), so the Ray tasks of a process take turns on
it: tasks of the same cluster share it (a reusable environment's concurrent tasks), a task of
another cluster waits until it is free. A config without ``address`` gets a cluster of local
processes (:class:`~flyteplugins.ray._cluster.LocalCluster`): the head on ``FLYTE_RAY_LOCAL_IP``
(127.0.0.10) and each worker node on the next loopback address. It is stopped by its PIDs when its
last task ends, unless it should stay warm: for ``ReusePolicy(idle_ttl=...)`` (a reusable environment's
shared cluster) or ``ttl_seconds_after_finished`` (without ``shutdown_after_job_finishes``), after which
an idle cluster is stopped; every cluster still running is stopped when the process exits.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flyteplugins.ray._cluster import LocalCluster

log = logging.getLogger("flyteplugins.ray")

LOCAL_IP = os.environ.get("FLYTE_RAY_LOCAL_IP", "127.0.0.10")
OBJECT_STORE_BYTES = 256 * 1024**2
"""Each local node's object store unless ``ray_start_params`` sets one (Ray's default is 30% of RAM
per node, which several nodes on one machine cannot all have)."""


@dataclass
class _Cluster:
    key: str
    init: dict[str, Any]  # ray.init(...) arguments
    local: LocalCluster | None = None
    users: int = 0
    warm_s: float = 0.0
    timer: threading.Timer | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


@dataclass
class Lease:
    cluster: _Cluster
    since: float


_lock = threading.Condition()
_clusters: dict[str, _Cluster] = {}
_driver: _Cluster | None = None  # the cluster this process's Ray connection is joined to
_driver_users = 0
_driver_ready = False  # the connection to _driver is made
_CLOSING = _Cluster("<disconnecting>", {})  # the connection is being shut down: everyone waits


def running() -> list[LocalCluster]:
    """The local clusters started here that still run."""
    with _lock:
        return [c.local for c in _clusters.values() if c.local is not None]


def _warm_seconds(task: Any) -> float:
    cfg = task.plugin_config
    if task.reusable is not None:
        ttl = task.reusable.idle_ttl_seconds
        return float("inf") if ttl is None else float(ttl)
    if cfg.shutdown_after_job_finishes:
        return 0.0
    return float(cfg.ttl_seconds_after_finished or 0)


def _key(task: Any) -> str:
    key = str(task.plugin_config.key())
    if task.reusable is None:  # a job's own cluster: never shared with a concurrent job
        key += f"|job:{id(object())}"
    else:
        key += f"|env:{task.env_name}"
    return key


def _node_args(params: dict[str, str] | None, resources: Any) -> list[str]:
    params = dict(params or {})
    if resources is not None:
        cpu, mem, gpus = resources.cpu_request(), resources.memory_request_bytes(), resources.gpu_count()
        if cpu is not None:
            params.setdefault("num-cpus", f"{max(1, round(cpu))}")
        if mem is not None:
            params.setdefault("memory", str(mem))
        if gpus:
            params.setdefault("num-gpus", str(gpus))
    params.setdefault("object-store-memory", str(OBJECT_STORE_BYTES))
    return [f"--{k}={v}" for k, v in params.items()]


def _build(cfg: Any) -> LocalCluster:
    temp = Path(tempfile.mkdtemp(prefix="flyte-rayjob-"))  # short: Ray's socket paths have a length limit
    cluster = LocalCluster(temp)
    ip = ipaddress.IPv4Address(LOCAL_IP)
    head = cfg.head_node_config
    cluster.add_node(
        "head", str(ip), _node_args(head and head.ray_start_params, head and head.requests), head=True
    )
    for group in cfg.worker_node_config:
        for i in range(group.replicas):
            ip += 1
            cluster.add_node(
                f"{group.group_name}-{i}", str(ip), _node_args(group.ray_start_params, group.requests)
            )
    return cluster


def _init_kwargs(cfg: Any, local: LocalCluster | None) -> dict[str, Any]:
    from flyteplugins.ray._address import parse_address

    if local is not None:
        kw = {"address": local.gcs, "_node_ip_address": local.head_ip}
    else:
        text = cfg.address.strip()
        if text.startswith("ray://"):
            kw = parse_address(text).init_kwargs()
        elif text == "auto":
            kw = {"address": "auto"}
        else:
            kw = parse_address(f"ray+direct://{text}").init_kwargs()
    if cfg.runtime_env:
        kw["runtime_env"] = dict(cfg.runtime_env)
    return kw


def acquire(task: Any) -> Lease:
    """The task's cluster, started when needed, with this process joined to it as the driver."""
    cfg = task.plugin_config
    key = _key(task)
    with _lock:
        entry = _clusters.get(key)
        starter = entry is None
        if entry is None:
            entry = _clusters[key] = _Cluster(key, {}, warm_s=_warm_seconds(task))
        entry.users += 1
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
    try:
        if starter:
            try:
                local = entry.local = None if cfg.address else _build(cfg)
                if local is not None:
                    log.info("starting a local Ray cluster for %s: %s", task.name, list(local.nodes))
                    local.start()
                entry.init = _init_kwargs(cfg, local)
            except BaseException as e:
                entry.error = e
                raise
            finally:
                entry.ready.set()
        else:
            entry.ready.wait()
            if entry.error is not None:
                raise RuntimeError(
                    f"the Ray cluster of {task.name} did not start: {entry.error}"
                ) from entry.error
        _join(entry)
    except BaseException:
        _leave(entry, joined=False)
        raise
    return Lease(entry, time.time())


def _join(entry: _Cluster) -> None:
    """Share the process's Ray connection with the other tasks of this cluster (once it is made), or
    wait until no task of another cluster holds it, then connect."""
    global _driver, _driver_users, _driver_ready
    with _lock:
        while not (_driver is None or (_driver is entry and _driver_ready)):
            _lock.wait()
        if _driver is entry:
            _driver_users += 1
            return
        _driver, _driver_users, _driver_ready = entry, 1, False
    try:
        _connect(entry.init)
    except BaseException:
        with _lock:
            _driver, _driver_users = None, 0
            _lock.notify_all()
        raise
    with _lock:
        _driver_ready = True
        _lock.notify_all()


def _connect(kwargs: dict[str, Any]) -> None:
    import ray
    from flyteplugins.ray import _executor

    with _executor._connect_lock:  # the same connection the `ray` executor uses
        if ray.is_initialized():
            ray.shutdown()
        _executor._connected = None
        ray.init(**kwargs, configure_logging=False)


def release(lease: Lease) -> None:
    """Leave the cluster: its workers' output goes to the action's log; it stops unless kept warm."""
    entry = lease.cluster
    if entry.local is not None:
        _keep_logs(entry.local, lease.since)
    _leave(entry, joined=True)


def _keep_logs(local: LocalCluster, since: float) -> None:
    from flyte._runtime.logs import append

    logs = local.worker_logs(since=since - 1.0)
    if logs:
        append("".join(f"--- {_label(name)} ---\n{text}\n" for name, text in logs.items()))


def _label(file_name: str) -> str:
    """``worker-<id>-<job>-<pid>.out`` as ``Ray worker <pid> stdout``."""
    stem, _, ext = file_name.rpartition(".")
    return f"Ray worker {stem.rsplit('-', 1)[-1]} {'stderr' if ext == 'err' else 'stdout'}"


def _leave(entry: _Cluster, *, joined: bool) -> None:
    global _driver, _driver_users
    disconnect = False
    with _lock:
        if joined and _driver is entry:
            _driver_users -= 1
            if _driver_users == 0:
                _driver, disconnect = _CLOSING, True
        entry.users -= 1
        stop = entry.users == 0 and (entry.warm_s <= 0 or entry.error is not None)
        if stop:
            _clusters.pop(entry.key, None)
        elif entry.users == 0 and entry.warm_s != float("inf"):
            entry.timer = threading.Timer(entry.warm_s, _expire, (entry,))
            entry.timer.daemon = True
            entry.timer.start()
    if disconnect:
        from flyteplugins.ray._executor import disconnect as ray_disconnect

        try:
            ray_disconnect()
        finally:
            with _lock:
                _driver = None
                _lock.notify_all()
    if stop and entry.local is not None:
        _stop(entry.local)


def _stop(local: LocalCluster) -> None:
    local.stop()
    shutil.rmtree(local.temp, ignore_errors=True)  # its logs went to the actions that used it


def _expire(entry: _Cluster) -> None:
    with _lock:
        if entry.users or _clusters.get(entry.key) is not entry:
            return
        _clusters.pop(entry.key)
    if entry.local is not None:
        _stop(entry.local)


def stop_all() -> None:
    """Stop every idle cluster this process started (the process's exit does this too)."""
    with _lock:
        idle = [c for c in _clusters.values() if c.users == 0]
        for c in idle:
            _clusters.pop(c.key)
            if c.timer is not None:
                c.timer.cancel()
    for c in idle:
        if c.local is not None:
            _stop(c.local)


atexit.register(stop_all)
