"""Workflows written for the anchor SDK (flyte-sdk 2.12.1) that must run unchanged on ours: the container
and pod plugins (Spark and BigQuery: test_anchor_style_plugins.py).

Container tasks (``flyte.extras.ContainerTask`` + ``TaskEnvironment.from_task``) run on the local
container runtime; pod templates (``flyte.PodTemplate``) run as real pods with ``podman kube play``.
The Ray task type's end-to-end test lives in plugins/ray/tests (it needs a network namespace).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import flyte
import flyte._config
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
BUSYBOX = os.environ.get("FLYTE_TEST_BUSYBOX_IMAGE", "localhost/flyte-busybox:test")
PYTHON = os.environ.get("FLYTE_TEST_PYTHON_IMAGE", "localhost/flyte-python:test")


@pytest.fixture
def anchor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "flyte-home"
    monkeypatch.setenv("FLYTE_HOME", str(home))
    monkeypatch.delenv("FLYTE_CONFIG", raising=False)
    monkeypatch.delenv("FLYTE_ISOLATION", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(flyte._config, "_settings", None)
    return home


def _podman_images() -> None:
    """Skip without podman (fail on CI); build the local test images when missing."""
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is missing on CI: .ci/run must call .ci/setup-podman.sh")
        pytest.skip("podman is not installed (run .ci/setup-podman.sh)")
    if any(subprocess.run(["podman", "image", "exists", i]).returncode for i in (PYTHON, BUSYBOX)):
        env = dict(os.environ, PYTHON=sys.executable)
        subprocess.run(["bash", str(REPO / ".ci" / "build-test-images.sh")], check=True, timeout=600, env=env)


def _import_app(tmp_path: Path, name: str, source: str) -> object:
    import importlib

    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


# ---- container: ContainerTask from flyte.extras, in an environment made with from_task -------------
CONTAINER_APP = """
    import flyte
    try:
        from flyte.extras import ContainerTask
    except ImportError:  # flyte.extras arrives with another change; it re-exports this class
        from flyteplugins.container import ContainerTask

    greeting_task = ContainerTask(
        name="echo_and_return_greeting",
        image=flyte.Image.from_base("{image}"),
        input_data_dir="/var/inputs",
        output_data_dir="/var/outputs",
        inputs={{"name": str}},
        outputs={{"greeting": str}},
        command=["/bin/sh", "-c",
                 "echo 'Hello, my name is {{{{.inputs.name}}}}.' | tee -a /var/outputs/greeting"],
    )

    container_env = flyte.TaskEnvironment.from_task("container_env", greeting_task)

    env = flyte.TaskEnvironment(name="hello_world", depends_on=[container_env])


    @env.task
    async def say_hello(name: str = "flyte") -> str:
        print("Hello container task")
        return await greeting_task(name=name)
"""


def test_anchor_container_task_from_extras_runs_in_a_container(tmp_path: Path, anchor_home: Path) -> None:
    pytest.importorskip("flyteplugins.container")
    _podman_images()
    app = _import_app(tmp_path, "anchor_container_app", CONTAINER_APP.format(image=BUSYBOX))
    try:
        env = app.container_env  # type: ignore[attr-defined]
        task = app.greeting_task  # type: ignore[attr-defined]
        assert env.tasks == {"echo_and_return_greeting": task} and task.env_name == "container_env"
        assert env.image is task.image
        run = flyte.run(app.say_hello, "Union")  # type: ignore[attr-defined]
        assert run.outputs()[0].strip() == "Hello, my name is Union."
        logs = {p.read_text() for p in (anchor_home / "data" / "runs" / run.name).glob("*/logs/*.log")}
        assert any("Hello, my name is Union." in text for text in logs), logs  # the container's output
        assert any("Hello container task" in text for text in logs), logs  # the parent's print
    finally:
        sys.modules.pop("anchor_container_app", None)


def test_anchor_container_task_positional_arguments_and_file_layout(
    tmp_path: Path, anchor_home: Path
) -> None:
    """The anchor's positional order (name, image, command, inputs, arguments, outputs, dirs, format,
    local_logs, file_input_layout) and NAMED_DIR: a File input arrives under its own name."""
    container = pytest.importorskip("flyteplugins.container")
    _podman_images()
    from flyte.io import File

    src = tmp_path / "reads.fastq"
    src.write_text("ACGT\n")
    t = container.ContainerTask(
        "named_dir",
        BUSYBOX,
        ["/bin/sh", "-c"],
        {"reads": File},
        ["ls /in/reads > /out/listing"],
        {"listing": str},
        Path("/in"),
        "/out",
        "JSON",
        False,
        "NAMED_DIR",
    )
    assert (t.inputs, t.arguments, t.input_data_dir, t.local_logs) == (
        {"reads": File},
        ["ls /in/reads > /out/listing"],
        "/in",
        False,
    )
    env = flyte.TaskEnvironment(name="named-dir-parent")

    @env.task
    async def parent() -> str:
        return await t(reads=await File.from_local(str(src)))

    assert flyte.run(parent).outputs()[0].strip() == "reads.fastq"
    with pytest.raises(ValueError, match="file_input_layout"):
        container.ContainerTask("bad", BUSYBOX, ["true"], file_input_layout="FLAT")
    with pytest.raises(ValueError, match="PROTO"):
        container.ContainerTask("proto", BUSYBOX, ["true"], metadata_format="PROTO")


# ---- pod: flyte.PodTemplate on an environment and on one task ------------------------------------
POD_APP = """
    import os

    import flyte

    pod_template = flyte.PodTemplate(
        primary_container_name="primary",
        labels={{"lKeyA": "lValA"}},
        annotations={{"aKeyA": "aValA"}},
        pod_spec={{"containers": [{{"name": "primary", "env": [{{"name": "hello", "value": "world"}}]}}]}},
    )

    env = flyte.TaskEnvironment(name="hello_world_pod", pod_template=pod_template, image="{image}")
    plain = flyte.TaskEnvironment(name="hello_world_plain", image="{image}")


    @env.task
    async def say_hello(data: str) -> str:
        inside = os.path.exists("/run/.containerenv")
        return f"Hello {{data}} ({{os.environ['hello']}}, in a container: {{inside}})"


    @env.task
    async def say_hello_nested(data: str = "default string") -> str:
        return await say_hello(data=data)


    @plain.task(pod_template=flyte.PodTemplate(pod_spec={{"containers": [
        {{"name": "primary", "env": [{{"name": "hello", "value": "task-level"}}]}}]}}))
    async def per_task() -> str:
        return os.environ["hello"]


    @plain.task
    async def both(data: str) -> list:
        return [await say_hello_nested(data=data), await per_task()]
"""


def test_anchor_pod_template_runs_tasks_as_pods(tmp_path: Path, anchor_home: Path) -> None:
    pod = pytest.importorskip("flyteplugins.pod")
    _podman_images()
    app = _import_app(tmp_path, "anchor_pod_app", POD_APP.format(image=PYTHON))
    try:
        assert app.say_hello.task_type == "pod" and app.per_task.task_type == "pod"  # type: ignore[attr-defined]
        assert isinstance(app.env.pod_template, pod.PodTemplate)  # type: ignore[attr-defined]
        run = flyte.run(app.both, data="hello world")  # type: ignore[attr-defined]
        assert run.outputs()[0] == ["Hello hello world (world, in a container: True)", "task-level"]
        left = subprocess.run(
            ["podman", "pod", "ls", "--filter", f"label=flyte.org/run={run.name}", "--format", "{{.Name}}"],
            capture_output=True,
            text=True,
        )
        assert left.stdout.split() == []  # every pod of the run removed
    finally:
        sys.modules.pop("anchor_pod_app", None)


def test_anchor_pod_template_takes_a_v1podspec_like_a_dict(anchor_home: Path) -> None:
    """``kubernetes.client`` objects (the anchor's examples) give the same pod as the dict form."""
    pod = pytest.importorskip("flyteplugins.pod")
    k8s = pytest.importorskip("kubernetes.client")
    from flyte.extend import SerializationContext

    spec = k8s.V1PodSpec(
        containers=[k8s.V1Container(name="primary", env=[k8s.V1EnvVar(name="hello", value="world")])],
        image_pull_secrets=[k8s.V1LocalObjectReference(name="regcred-test")],
    )
    as_dict = {
        "containers": [{"name": "primary", "env": [{"name": "hello", "value": "world"}]}],
        "imagePullSecrets": [{"name": "regcred-test"}],
    }
    meta = {"labels": {"lKeyA": "lValA"}, "annotations": {"aKeyA": "aValA"}}
    manifests = []
    for i, pod_spec in enumerate((spec, as_dict)):
        env = flyte.TaskEnvironment(
            name=f"v1-{i}", image=PYTHON, pod_template=flyte.PodTemplate(pod_spec=pod_spec, **meta)
        )

        @env.task
        async def say_hello(data: str) -> str:
            return data

        manifest = pod.build_pod(say_hello, SerializationContext())
        manifest["metadata"].pop("name", None)
        manifests.append(manifest)
    assert manifests[0]["spec"] == manifests[1]["spec"]
    assert manifests[0]["metadata"]["labels"]["lKeyA"] == "lValA"
    assert manifests[0]["spec"]["imagePullSecrets"] == [{"name": "regcred-test"}]
    primary = manifests[0]["spec"]["containers"][0]
    assert primary["name"] == "primary" and {"name": "hello", "value": "world"} in primary["env"]
    # from_spec picks the primary container; a copy, so later edits of the spec do not leak in
    tmpl = flyte.PodTemplate.from_spec(spec)
    assert tmpl.primary_container_name == "primary" and tmpl.pod_spec is not spec
    with pytest.raises(ValueError, match="primary_container_name"):
        flyte.PodTemplate(primary_container_name="Primary_1")
