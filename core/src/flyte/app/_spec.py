"""The app spec written by ``flyte serialize``: app settings plus Kubernetes-style manifests.

``k8s`` holds a ``Deployment`` (image, command, port, env, secrets by reference, resources),
a ``Service`` (port 80 to the app's port) and, when the replica count may change, a
``HorizontalPodAutoscaler`` (min/max replicas, the scaling metric, the scale-down window).
Secrets appear by name only, never by value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from flyte._resources import Resources, _parse_bytes, _parse_cpu

if TYPE_CHECKING:
    from flyte.app._app_environment import AppEnvironment

__all__ = ["build_app_spec", "k8s_manifests", "spec_command"]

_DEVICE_RESOURCE = {
    "GPU": "nvidia.com/gpu",
    "TPU": "google.com/tpu",
    "NEURON": "aws.amazon.com/neuron",
    "AMD_GPU": "amd.com/gpu",
    "HABANA_GAUDI": "habana.ai/gaudi",
}
_PORT_TOKENS = ("$PORT", "${PORT}")


def _cpu_text(value: object) -> str:
    cores = _parse_cpu(value)
    assert cores is not None
    if float(cores).is_integer():
        return str(int(cores))
    return f"{math.ceil(cores * 1000)}m"


def _mem_text(value: object) -> str:
    if isinstance(value, str):
        return value
    number = _parse_bytes(value)
    assert number is not None
    return str(math.ceil(number))


def _k8s_resources(res: Resources | None) -> dict[str, dict[str, str]]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if res is None:
        return {}
    for name, value, fmt in (("cpu", res.cpu, _cpu_text), ("memory", res.memory, _mem_text)):
        if value is None:
            continue
        if isinstance(value, tuple):
            requests[name], limits[name] = fmt(value[0]), fmt(value[1])
        else:
            requests[name] = limits[name] = fmt(value)
    if res.disk is not None:
        requests["ephemeral-storage"] = limits["ephemeral-storage"] = _mem_text(res.disk)
    device = res.device()
    if device is not None:
        key = _DEVICE_RESOURCE.get(device.device_class)
        if key is None:
            from flyte.errors import AppleSiliconNotAvailableError

            raise AppleSiliconNotAvailableError(
                "gpu='AppleSilicon' is the Metal GPU of a local Apple Silicon Mac; a deployed app "
                "cannot request it. Serve the app locally on the Mac, or ask for a cluster GPU."
            )
        requests[key] = limits[key] = str(device.quantity)
    out: dict[str, dict[str, str]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _image_uri(app: AppEnvironment) -> str:
    from flyte._image import Image

    image = app.image
    if isinstance(image, Image):
        return image.uri
    if image is None or image == "auto":
        return Image.from_debian_base().uri
    return image


def spec_command(app: AppEnvironment) -> tuple[list[str], list[str]]:
    """(command, args) for the container; ``$PORT`` becomes the declared port (``$(PORT)`` is kept)."""
    port = str(app.get_port().port)

    def sub(parts: list[str]) -> list[str]:
        out = []
        for p in parts:
            for token in _PORT_TOKENS:
                p = p.replace(token, port)
            out.append(p)
        return out

    return sub(app.container_cmd()), sub(app.container_args())


def build_app_spec(app: AppEnvironment) -> dict[str, Any]:
    """The JSON-able spec of ``app``."""
    from flyte._image import Image

    image: Any = app.image
    if isinstance(image, Image):
        image = image.to_dict()
    command, args = spec_command(app)
    return {
        "kind": "App",
        "name": app.name,
        "type": app.type,
        "description": app.description,
        "image": image,
        "port": app.get_port().to_dict(),
        "command": command,
        "args": args,
        "entrypoint": "command" if app._command is not None else ("server" if app._server else None),
        "resources": app.resources.to_dict() if app.resources is not None else None,
        "env_vars": dict(app.env_vars or {}),
        "secrets": [s.to_dict() for s in app.secret_list],
        "requires_auth": app.requires_auth,
        "scaling": app.scaling.to_dict(),
        "domain": app.domain.to_dict(app) if app.domain is not None else None,
        "links": [link.to_dict() for link in app.links],
        "parameters": [
            {"name": p.name, "type": p.type, "env_var": p.env_var, "download": p.download, "mount": p.mount}
            for p in app.parameters
        ],
        "cluster_pool": app.cluster_pool,
        "timeouts": app.timeouts.to_dict(),
        "depends_on": [d.name for d in app.depends_on],
        "k8s": k8s_manifests(app),
    }


def k8s_manifests(app: AppEnvironment) -> dict[str, Any]:
    """``{"deployment": ..., "service": ..., "autoscaler": ... | None}`` for ``app``."""
    name = app.name
    port = app.get_port()
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "flyte"}
    lo, hi = app.scaling.get_replicas()
    annotations = {
        "flyte.org/requires-auth": str(app.requires_auth).lower(),
        "flyte.org/cluster-pool": app.cluster_pool,
    }
    if lo == 0:
        annotations["flyte.org/scale-to-zero"] = "true"
    subdomain = app.domain.resolved_subdomain(app) if app.domain is not None else None
    if subdomain:
        annotations["flyte.org/subdomain"] = subdomain
    if app.domain is not None and app.domain.custom_domain:
        annotations["flyte.org/custom-domain"] = app.domain.custom_domain
    req = app.timeouts.to_dict()["request_seconds"]
    if req is not None:
        annotations["flyte.org/request-timeout-seconds"] = f"{req:g}"

    env: list[dict[str, Any]] = [{"name": "PORT", "value": str(port.port)}]
    env += [{"name": k, "value": v} for k, v in sorted((app.env_vars or {}).items())]
    for s in app.secret_list:
        env.append(
            {
                "name": s.env_var_name,
                "valueFrom": {"secretKeyRef": {"name": s.group or s.key, "key": s.key}},
            }
        )
    command, args = spec_command(app)
    container: dict[str, Any] = {
        "name": "app",
        "image": _image_uri(app),
        "command": command,
        "ports": [{"name": port.name or "http", "containerPort": port.port, "protocol": "TCP"}],
        "env": env,
        "readinessProbe": {"tcpSocket": {"port": port.port}, "periodSeconds": 5},
    }
    if args:
        container["args"] = args
    resources = _k8s_resources(app.resources)
    if resources:
        container["resources"] = resources
    pod_spec: dict[str, Any] = {"containers": [container]}
    res = app.resources
    if res is not None and res.shm is not None:
        shm: dict[str, Any] = {"medium": "Memory"}
        if res.shm != "auto":
            shm["sizeLimit"] = _mem_text(res.shm)
        pod_spec["volumes"] = [{"name": "dshm", "emptyDir": shm}]
        container["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    device = res.device() if res is not None else None
    if device is not None and device.device is not None:
        pod_spec["nodeSelector"] = {"flyte.org/accelerator": device.device}

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": lo,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": port.port, "protocol": "TCP"}],
        },
    }
    autoscaler: dict[str, Any] | None = None
    if hi > max(lo, 1):
        metric = app.scaling.to_dict()["metric"]
        if metric is None:
            metrics: list[dict[str, Any]] = [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                }
            ]
        else:
            ((kind, val),) = metric.items()
            metric_name = "http_requests_in_flight" if kind == "concurrency" else "http_requests_per_second"
            metrics = [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": metric_name},
                        "target": {"type": "AverageValue", "averageValue": str(val)},
                    },
                }
            ]
        hpa_spec: dict[str, Any] = {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": max(lo, 1),
            "maxReplicas": hi,
            "metrics": metrics,
        }
        down = app.scaling.scaledown_seconds()
        if down is not None:
            hpa_spec["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": math.ceil(down)}}
        autoscaler = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "labels": labels},
            "spec": hpa_spec,
        }
    return {"deployment": deployment, "service": service, "autoscaler": autoscaler}
