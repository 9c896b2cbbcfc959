"""``flyte.PodTemplate``: the Kubernetes pod a task runs in (sidecars, volumes, node selectors...).

Light on purpose: the ``kubernetes`` client is never imported here. A ``V1PodSpec`` (or any generated
Kubernetes model) is read through the ``attribute_map``/``openapi_types`` every such model carries, so
code that builds its spec with ``kubernetes.client`` and code that writes a dict both work, and only
the pod plugin (which runs pods) needs the client.
"""

from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flyte._validate import param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

PRIMARY_CONTAINER_DEFAULT_NAME = "primary"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _is_k8s_model(value: Any) -> bool:
    return hasattr(value, "attribute_map") and hasattr(value, "openapi_types")


def k8s_dict(value: Any) -> Any:
    """A Kubernetes model (``V1PodSpec``, ``V1Container``...) or plain value in Kubernetes' JSON form
    (camelCase keys, unset fields left out), as ``ApiClient().sanitize_for_serialization`` gives."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if _is_k8s_model(value):
        out = {}
        for attr, key in value.attribute_map.items():
            v = getattr(value, attr, None)
            if v is not None:
                out[key] = k8s_dict(v)
        return out
    if isinstance(value, Mapping):
        return {k: k8s_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [k8s_dict(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def pod_spec_dict(pod_spec: Any) -> dict[str, Any]:
    """The pod spec as a fresh dict in Kubernetes form (``{}`` for None)."""
    if pod_spec is None:
        return {}
    out = k8s_dict(copy.deepcopy(pod_spec) if isinstance(pod_spec, Mapping) else pod_spec)
    return dict(out)


def _str_map(owner: str, param: str, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameterTypeError(owner, param, value, "Use a dict of str to str, e.g. {'team': 'ml'}.")
    return dict(value)


def _container_names(pod_spec: Any) -> list[str | None]:
    if pod_spec is None:
        return []
    if isinstance(pod_spec, Mapping):
        return [c.get("name") if isinstance(c, Mapping) else None for c in pod_spec.get("containers") or []]
    return [getattr(c, "name", None) for c in getattr(pod_spec, "containers", None) or []]


@dataclass
class PodTemplate:
    """The pod a task runs in: your pod spec plus the task in its primary container.

    - ``pod_spec``: a ``kubernetes.client.V1PodSpec``, or the same as a dict in Kubernetes (camelCase)
      form. Every container in it is kept; the one named ``primary_container_name`` (added when
      missing) runs the task, with the task's image, command, resources, env vars and secrets.
    - ``primary_container_name``: the container that runs the task (``"primary"``).
    - ``labels`` / ``annotations``: the pod's metadata.

    ``TaskEnvironment(pod_template=...)`` or ``@env.task(pod_template=...)`` makes tasks pod tasks,
    which flyte-plugin-pod runs (locally with ``podman kube play``).
    """

    pod_spec: Any = None
    primary_container_name: str = PRIMARY_CONTAINER_DEFAULT_NAME
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        name = self.primary_container_name
        if not isinstance(name, str) or len(name) > 63 or not _DNS_LABEL.match(name):
            raise param_error(
                owner,
                "primary_container_name",
                name,
                "Use a Kubernetes container name: 1-63 lowercase letters, digits or '-', starting and "
                "ending with a letter or digit, e.g. 'primary'.",
                types=str,
            )
        spec = self.pod_spec
        if spec is not None and not isinstance(spec, Mapping) and not _is_k8s_model(spec):
            raise InvalidParameterTypeError(
                owner,
                "pod_spec",
                spec,
                "Use a kubernetes.client.V1PodSpec, or a dict in Kubernetes form such as "
                "{'containers': [{'name': 'primary'}, {'name': 'proxy', 'image': 'envoy:1.30'}]}.",
            )
        object.__setattr__(self, "labels", _str_map(owner, "labels", self.labels))
        object.__setattr__(self, "annotations", _str_map(owner, "annotations", self.annotations))

    @classmethod
    def from_spec(
        cls,
        pod_spec: Any,
        *,
        primary_container_name: str | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> PodTemplate:
        """A template around a copy of ``pod_spec`` whose primary container is the one named
        ``primary_container_name``, else the one named ``"primary"``, else its only container."""
        names = _container_names(pod_spec)
        if primary_container_name is not None:
            if primary_container_name not in names:
                raise InvalidParameterError(
                    "PodTemplate.from_spec",
                    "primary_container_name",
                    primary_container_name,
                    f"Name one of the pod spec's containers: {names}.",
                )
            chosen = primary_container_name
        elif PRIMARY_CONTAINER_DEFAULT_NAME in names:
            chosen = PRIMARY_CONTAINER_DEFAULT_NAME
        elif len(names) == 1 and names[0]:
            chosen = names[0]
        else:
            raise InvalidParameterError(
                "PodTemplate.from_spec",
                "primary_container_name",
                None,
                f"The pod spec has containers {names} and none is named 'primary': pass "
                "primary_container_name= to say which one runs the task.",
            )
        return cls(
            pod_spec=copy.deepcopy(pod_spec),
            primary_container_name=chosen,
            labels=dict(labels) if labels else None,
            annotations=dict(annotations) if annotations else None,
        )

    def with_termination_grace_period(
        self, termination_grace_period: int | datetime.timedelta
    ) -> PodTemplate:
        """A copy whose pod waits this long between SIGTERM and SIGKILL when it is stopped."""
        value = termination_grace_period
        if isinstance(value, datetime.timedelta):
            seconds = int(value.total_seconds())
        elif isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        else:
            raise InvalidParameterError(
                "PodTemplate.with_termination_grace_period",
                "termination_grace_period",
                value,
                "Use whole seconds (int) or a datetime.timedelta.",
            )
        if seconds < 0:
            raise InvalidParameterError(
                "PodTemplate.with_termination_grace_period",
                "termination_grace_period",
                value,
                "Use 0 or more seconds.",
            )
        new = copy.deepcopy(self)
        if new.pod_spec is None:
            new.pod_spec = {"containers": [{"name": new.primary_container_name}]}
        if isinstance(new.pod_spec, Mapping):
            spec = dict(new.pod_spec)
            spec["terminationGracePeriodSeconds"] = seconds
            new.pod_spec = spec
        else:
            new.pod_spec.termination_grace_period_seconds = seconds
        return new

    def to_dict(self) -> dict[str, Any]:
        """The template in Kubernetes form: ``{"metadata", "podSpec", "primaryContainerName"}``."""
        meta = {k: dict(v) for k, v in (("labels", self.labels), ("annotations", self.annotations)) if v}
        return {
            "metadata": meta,
            "podSpec": pod_spec_dict(self.pod_spec),
            "primaryContainerName": self.primary_container_name,
        }

    def to_k8s_pod(self) -> dict[str, Any]:
        """The same as :meth:`to_dict` (the anchor returns its protobuf ``K8sPod`` of these fields)."""
        return self.to_dict()
