"""flyte.PodTemplate (the anchor's fields and defaults; V1PodSpec read without the kubernetes client)
and TaskEnvironment.from_task."""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
import sys
from typing import Any, ClassVar

import flyte
import pytest
from flyte._pod import k8s_dict
from flyte.errors import InvalidParameterError


class V1EnvVar:  # shaped like a kubernetes.client model: attribute_map + openapi_types
    openapi_types: ClassVar[dict[str, str]] = {"name": "str", "value": "str"}
    attribute_map: ClassVar[dict[str, str]] = {"name": "name", "value": "value"}

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name, self.value = name, value


class V1Container:
    openapi_types: ClassVar[dict[str, str]] = {"name": "str", "env": "list[V1EnvVar]", "image": "str"}
    attribute_map: ClassVar[dict[str, str]] = {"name": "name", "env": "env", "image": "image"}

    def __init__(self, name: str, env: list[Any] | None = None, image: str | None = None) -> None:
        self.name, self.env, self.image = name, env, image


class V1PodSpec:
    openapi_types: ClassVar[dict[str, str]] = {
        "containers": "list[V1Container]",
        "termination_grace_period_seconds": "int",
    }
    attribute_map: ClassVar[dict[str, str]] = {
        "containers": "containers",
        "termination_grace_period_seconds": "terminationGracePeriodSeconds",
    }

    def __init__(self, containers: list[Any], termination_grace_period_seconds: int | None = None) -> None:
        self.containers = containers
        self.termination_grace_period_seconds = termination_grace_period_seconds


def test_fields_and_defaults_are_the_anchors() -> None:
    assert [(f.name, f.default) for f in dataclasses.fields(flyte.PodTemplate)] == [
        ("pod_spec", None),
        ("primary_container_name", "primary"),
        ("labels", None),
        ("annotations", None),
    ]
    t = flyte.PodTemplate()
    t.labels = {"a": "b"}  # mutable, as the anchor's
    assert t.labels == {"a": "b"}


def test_a_v1podspec_is_read_without_the_kubernetes_client() -> None:
    spec = V1PodSpec(
        [V1Container("primary", env=[V1EnvVar("hello", "world")]), V1Container("side", image="x:1")]
    )
    tmpl = flyte.PodTemplate(pod_spec=spec, labels={"team": "ml"})
    assert tmpl.to_dict() == {
        "metadata": {"labels": {"team": "ml"}},
        "podSpec": {
            "containers": [
                {"name": "primary", "env": [{"name": "hello", "value": "world"}]},
                {"name": "side", "image": "x:1"},
            ]
        },
        "primaryContainerName": "primary",
    }
    assert k8s_dict({"a": [V1EnvVar("x")]}) == {"a": [{"name": "x"}]}


def test_bad_values_name_the_field() -> None:
    with pytest.raises(InvalidParameterError, match="primary_container_name"):
        flyte.PodTemplate(primary_container_name="Not A Name")
    with pytest.raises(InvalidParameterError, match="pod_spec"):
        flyte.PodTemplate(pod_spec="containers: []")
    with pytest.raises(InvalidParameterError, match="labels"):
        flyte.PodTemplate(labels={"n": 1})  # type: ignore[dict-item]


def test_from_spec_picks_the_primary_container_and_copies() -> None:
    spec = V1PodSpec([V1Container("main")])
    t = flyte.PodTemplate.from_spec(spec, labels={"a": "b"})
    assert t.primary_container_name == "main" and t.pod_spec is not spec and t.labels == {"a": "b"}
    two = {"containers": [{"name": "a"}, {"name": "b"}]}
    with pytest.raises(InvalidParameterError, match="primary_container_name"):
        flyte.PodTemplate.from_spec(two)
    assert flyte.PodTemplate.from_spec(two, primary_container_name="b").primary_container_name == "b"
    with pytest.raises(InvalidParameterError, match="primary_container_name"):
        flyte.PodTemplate.from_spec(two, primary_container_name="c")


def test_termination_grace_period_is_set_on_a_copy() -> None:
    spec = V1PodSpec([V1Container("primary")])
    base = flyte.PodTemplate(pod_spec=spec)
    longer = base.with_termination_grace_period(datetime.timedelta(minutes=2))
    assert longer.pod_spec.termination_grace_period_seconds == 120
    assert spec.termination_grace_period_seconds is None
    bare = flyte.PodTemplate().with_termination_grace_period(30)
    assert bare.to_dict()["podSpec"] == {
        "containers": [{"name": "primary"}],
        "terminationGracePeriodSeconds": 30,
    }
    with pytest.raises(InvalidParameterError, match="termination_grace_period"):
        flyte.PodTemplate().with_termination_grace_period(-1)


def test_import_flyte_and_the_pod_template_stay_light() -> None:
    code = (
        "import sys, flyte; flyte.PodTemplate(pod_spec={'containers': [{'name': 'primary'}]}); "
        "print(sorted(m for m in ('kubernetes', 'pydantic', 'asyncio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_from_task_wraps_standalone_tasks_in_an_environment() -> None:
    from flyte._interface import NativeInterface

    image = flyte.Image.from_base("busybox:1.36")

    def make(name: str, img: Any) -> flyte.TaskTemplate:
        return flyte.TaskTemplate(name=name, interface=NativeInterface.from_types({}, None), image=img)

    a, b = make("standalone-a", image), make("standalone-b", image)
    other = flyte.TaskEnvironment(name="other-env")
    env = flyte.TaskEnvironment.from_task("standalone-env", a, b, depends_on=[other])
    assert env.image is image and env.depends_on == [other]
    assert env.tasks == {"standalone-a": a, "standalone-b": b}
    assert a.env_name == b.env_name == "standalone-env"
    with pytest.raises(InvalidParameterError, match="already belongs"):
        flyte.TaskEnvironment.from_task("again", a)
    with pytest.raises(InvalidParameterError, match="same image"):
        flyte.TaskEnvironment.from_task("mixed", make("c", image), make("d", "alpine:3"))
    assert flyte.TaskEnvironment.from_task("no-image", make("e", None)).image == "auto"
