"""A task as a Kubernetes v1 Pod: the user's pod spec plus the task's image, command, resources,
accelerators, shared memory, env vars and secret references; validated with the official client.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from flyte.extend import SerializationContext
from flyteplugins.pod._accelerators import placement
from flyteplugins.pod._template import pod_options, pod_template_of

ENTRYPOINT = ["python", "-m", "flyteplugins.pod.entrypoint"]
SHM_VOLUME = "flyte-shm"


class InvalidPodSpecError(ValueError):
    """The pod built for a task is not a valid Kubernetes v1 Pod (names what is wrong)."""


# ---- names ----------------------------------------------------------------------------------------
def k8s_name(text: str, limit: int = 63) -> str:
    """A DNS-1123 label from any text: ``"gpu-env.train_model"`` -> ``"gpu-env-train-model"``."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name[:limit].rstrip("-")) or "task"


def task_location(task: Any) -> tuple[str, str, str | None]:
    """(module, attribute, file) where a container finds the task; scripts are named after the file."""
    func = getattr(task, "func", None)
    module = getattr(func, "__module__", None) or getattr(task, "__module__", None) or "__main__"
    mod = sys.modules.get(module)
    file = getattr(mod, "__file__", None)
    attr = None
    if mod is not None:
        attr = next((k for k, v in vars(mod).items() if v is task), None)
    if attr is None:
        attr = getattr(func, "__name__", None) or str(task.name).rsplit(".", 1)[-1]
    if module == "__main__" and file:
        module = os.path.splitext(os.path.basename(file))[0]
    return module, attr, os.path.abspath(file) if file else None


def default_args(task: Any, sctx: SerializationContext) -> list[str]:
    """The primary container's command for a Python-function pod task."""
    module, attr, _ = task_location(task)
    return [
        *ENTRYPOINT,
        "--inputs",
        sctx.input_path,
        "--outputs-path",
        sctx.output_path,
        "--task-module",
        module,
        "--task-name",
        attr,
    ]


def image_uri(task: Any, sctx: SerializationContext) -> str:
    """The primary container's image: the context's, else the task's (``"auto"``: the default image)."""
    if sctx.image_uri:
        return sctx.image_uri
    image = getattr(task, "image", None)
    if isinstance(image, str) and image != "auto":
        return image
    import flyte

    if image is None or image == "auto":
        image = flyte.Image.auto()
    return str(image.uri)


# ---- quantities -----------------------------------------------------------------------------------
def _cpu(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{round(value * 1000)}m"
    return str(value)


def _bytes(value: Any) -> str:
    return str(value)


def _pair(value: Any) -> tuple[Any, Any]:
    return (value[0], value[1]) if isinstance(value, tuple) else (value, value)


def container_resources(resources: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(requests, limits) for CPU, memory and disk; a tuple is (request, limit), one value is both."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources is None:
        return requests, limits
    if resources.cpu is not None:
        req, lim = _pair(resources.cpu)
        requests["cpu"], limits["cpu"] = _cpu(req), _cpu(lim)
    if resources.memory is not None:
        req, lim = _pair(resources.memory)
        requests["memory"], limits["memory"] = _bytes(req), _bytes(lim)
    if resources.disk is not None:
        requests["ephemeral-storage"] = limits["ephemeral-storage"] = _bytes(resources.disk)
    return requests, limits


# ---- the pod --------------------------------------------------------------------------------------
def _spec_dict(pod_spec: Any) -> dict[str, Any]:
    from flyte._pod import pod_spec_dict

    return pod_spec_dict(pod_spec)  # a V1PodSpec is read without the kubernetes client


def _merge_env(env: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {e["name"] for e in ours}
    return [e for e in env if e.get("name") not in names] + ours


def task_env(task: Any) -> list[dict[str, Any]]:
    """Env vars as values and secrets as ``secretKeyRef`` (name: group or key; never a value)."""
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in dict(task.env_vars or {}).items()]
    for s in task.secrets or ():
        ref = {"name": s.group or s.key, "key": s.key}
        env.append({"name": s.env_var_name, "valueFrom": {"secretKeyRef": ref}})
    return env


def build_pod(
    task: Any, sctx: SerializationContext | None = None, *, name: str | None = None
) -> dict[str, Any]:
    """The task's Kubernetes v1 Pod as a dict (validated; raises :class:`InvalidPodSpecError`)."""
    sctx = sctx or SerializationContext()
    tmpl = pod_template_of(task)
    opts = pod_options(task)
    spec = _spec_dict(tmpl.pod_spec)
    containers: list[dict[str, Any]] = spec.setdefault("containers", [])
    primary = next((c for c in containers if c.get("name") == tmpl.primary_container_name), None)
    if primary is None:
        primary = {"name": tmpl.primary_container_name}
        containers.insert(0, primary)

    primary["image"] = image_uri(task, sctx)
    primary["command"] = list(task.container_args(sctx)) or default_args(task, sctx)
    primary.pop("args", None)

    requests, limits = container_resources(task.resources)
    device = task.resources.device() if task.resources is not None else None
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, str]] = []
    if device is not None:
        acc = placement(device, opts.accelerator_label)
        limits.update(acc.limits)
        node_selector, tolerations = acc.node_selector, acc.tolerations
    res = primary.setdefault("resources", {})
    for key, ours in (("requests", requests), ("limits", limits)):
        if ours:
            res[key] = {**(res.get(key) or {}), **ours}
    if not res:
        primary.pop("resources")

    env = _merge_env(primary.get("env") or [], task_env(task))
    if env:
        primary["env"] = env

    shm = getattr(task.resources, "shm", None)
    if shm is not None:
        empty_dir: dict[str, Any] = {"medium": "Memory"}
        if shm != "auto":
            empty_dir["sizeLimit"] = _bytes(shm)
        spec["volumes"] = [v for v in spec.get("volumes") or [] if v.get("name") != SHM_VOLUME]
        spec["volumes"].append({"name": SHM_VOLUME, "emptyDir": empty_dir})
        mounts = [m for m in primary.get("volumeMounts") or [] if m.get("mountPath") != "/dev/shm"]
        primary["volumeMounts"] = [*mounts, {"name": SHM_VOLUME, "mountPath": "/dev/shm"}]

    if node_selector:  # the user's own selectors win (a cluster may label nodes differently)
        spec["nodeSelector"] = {**node_selector, **(spec.get("nodeSelector") or {})}
    if tolerations:
        have = spec.get("tolerations") or []
        spec["tolerations"] = have + [t for t in tolerations if t not in have]
    spec.setdefault("restartPolicy", "Never")
    account = getattr(task, "service_account", None)  # TaskEnvironment/@env.task(service_account=...)
    if account and not spec.get("serviceAccountName"):  # a pod template's own account wins
        spec["serviceAccountName"] = account

    metadata: dict[str, Any] = {"name": name or k8s_name(str(task.name))}
    if tmpl.labels:
        metadata["labels"] = dict(tmpl.labels)
    if tmpl.annotations:
        metadata["annotations"] = dict(tmpl.annotations)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    return validate_pod(pod, where=f"task {task.name!r}")


# ---- validation -----------------------------------------------------------------------------------
_client: Any = None


def _api_client() -> Any:
    global _client
    if _client is None:
        from kubernetes.client import ApiClient

        _client = ApiClient()
    return _client


class _Body:
    def __init__(self, data: str) -> None:
        self.data = data


def _lost(given: Any, kept: Any, path: str) -> list[str]:
    """Keys of ``given`` the models dropped (misspelled or unknown fields)."""
    if isinstance(given, Mapping):
        if not isinstance(kept, Mapping):
            return [path or "."]
        out: list[str] = []
        for k, v in given.items():
            if v is None:
                continue
            sub = f"{path}.{k}" if path else str(k)
            out += [sub] if k not in kept else _lost(v, kept[k], sub)
        return out
    if isinstance(given, list) and isinstance(kept, list):
        return [p for i, (g, k) in enumerate(zip(given, kept)) for p in _lost(g, k, f"{path}[{i}]")]
    return []


def validate_pod(pod: Mapping[str, Any], where: str = "pod") -> dict[str, Any]:
    """Round-trip through ``kubernetes.client.V1Pod``: required fields present, no unknown field."""
    client = _api_client()
    try:
        model = client.deserialize(_Body(json.dumps(pod)), "V1Pod")
    except (ValueError, TypeError) as e:
        raise InvalidPodSpecError(f"{where}: not a valid Kubernetes v1 Pod: {e}") from None
    out: dict[str, Any] = client.sanitize_for_serialization(model)
    lost = _lost(pod, out, "")
    if lost:
        raise InvalidPodSpecError(
            f"{where}: not a valid Kubernetes v1 Pod: unknown field(s) {', '.join(lost)} "
            "(pod specs use the Kubernetes camelCase names, e.g. nodeSelector, volumeMounts)"
        )
    for c in out["spec"]["containers"]:
        if not c.get("image"):
            raise InvalidPodSpecError(f"{where}: container {c['name']!r} has no image")
    return out
