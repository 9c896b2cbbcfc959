"""flyte.build(Image) on a real runtime: Dockerfile from the layers, podman build, tag = image URI.

Every image here starts from the locally built test images (no registry is reachable) and carries a
per-test marker, so each test really builds and removes what it built.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("container_test_support")

import flyte  # noqa: E402
import flyte.errors  # noqa: E402
from container_test_support import BUSYBOX, PYTHON  # noqa: E402
from flyte._image import set_image_refs  # noqa: E402
from flyteplugins.container import ContainerTask  # noqa: E402

pytest_plugins = ["container_test_support"]
pytestmark = pytest.mark.usefixtures("images")


@pytest.fixture
def built(runtime: str) -> Iterator[list[str]]:
    """URIs to remove after the test."""
    uris: list[str] = []
    yield uris
    for uri in uris:
        subprocess.run([runtime, "rmi", "-f", uri], capture_output=True)


def _image_id(runtime: str, ref: str) -> str:
    p = subprocess.run(
        [runtime, "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def _in_image(runtime: str, ref: str, script: str) -> str:
    p = subprocess.run(
        [runtime, "run", "--rm", "--network=none", ref, "sh", "-c", script], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    return p.stdout


def _layered(tmp_path: Path, base: str) -> tuple[flyte.Image, str]:
    marker = uuid.uuid4().hex[:12]
    (tmp_path / "data.txt").write_text(f"file {marker}\n")
    folder = tmp_path / "conf"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x.cfg").write_text("k=v\n")
    image = (
        flyte.Image.from_base(base)
        .with_env_vars({"GREETING": f"hello {marker}", "QUOTED": 'a "b" c'})
        .with_commands(
            ["mkdir -p /work/made", "echo made > /work/made/by-command", "ls /sys/class/net > /netifs"]
        )
        .with_source_file(tmp_path / "data.txt", "/work")
        .with_source_folder(folder, "/work/conf")
        .with_workdir("/work")
    )
    return image, marker


def test_build_layers_then_skip_when_built(runtime: str, tmp_path: Path, built: list[str]) -> None:
    image, marker = _layered(tmp_path, BUSYBOX)
    built.append(image.uri)
    result = flyte.build(image)
    assert result.uri == image.uri and image.uri.startswith("flyte:")
    out = _in_image(
        runtime, image.uri, 'echo "$GREETING|$QUOTED|$(pwd)"; cat data.txt made/by-command conf/sub/x.cfg'
    )
    assert out.splitlines() == [f'hello {marker}|a "b" c|/work', f"file {marker}", "made", "k=v"]
    config = json.loads(
        subprocess.run([runtime, "image", "inspect", image.uri], capture_output=True, text=True).stdout
    )
    assert config[0]["Config"]["WorkingDir"] == "/work"
    assert _in_image(runtime, image.uri, "cat /netifs").split() == ["lo"]  # built with --network=none

    # An image under the URI is taken as built: tag another image there and no build replaces it.
    subprocess.run([runtime, "tag", BUSYBOX, image.uri], check=True, capture_output=True)
    assert flyte.build(image).uri == image.uri
    assert _image_id(runtime, image.uri) == _image_id(runtime, BUSYBOX)
    # force=True builds again.
    flyte.build(image, force=True)
    assert _image_id(runtime, image.uri) != _image_id(runtime, BUSYBOX)
    assert f"hello {marker}" in _in_image(runtime, image.uri, 'echo "$GREETING"')


def test_base_not_local_fails_clearly(runtime: str) -> None:
    image = flyte.Image.from_base("localhost/flyte-not-pulled:nope").with_env_vars({"A": "1"})
    with pytest.raises(
        flyte.errors.ImageBuildError, match=r"localhost/flyte-not-pulled:nope.*not available locally"
    ):
        flyte.build(image)


def test_failing_command_names_the_build_error(runtime: str) -> None:
    image = flyte.Image.from_base(BUSYBOX).with_commands(["echo about to fail; exit 7"])
    with pytest.raises(flyte.errors.ImageBuildError, match=r"build` failed"):
        flyte.build(image)


def test_from_dockerfile_with_a_local_base(runtime: str, tmp_path: Path, built: list[str]) -> None:
    marker = uuid.uuid4().hex[:12]
    (tmp_path / "hello.txt").write_text(f"from dockerfile {marker}\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {BUSYBOX}\nCOPY hello.txt /hello.txt\nENV MARK={marker}\n")
    image = flyte.Image.from_dockerfile(dockerfile, registry="localhost", name="flyte-df-test")
    built.append(image.uri)
    flyte.build(image)
    assert _in_image(runtime, image.uri, 'cat /hello.txt; echo "$MARK"').split() == [
        "from",
        "dockerfile",
        marker,
        marker,
    ]


def test_from_ref_name_resolves_and_unknown_name_fails(runtime: str, built: list[str]) -> None:
    try:
        set_image_refs({"tools": BUSYBOX})
        assert flyte.Image.from_ref_name("tools").uri == BUSYBOX
        image = flyte.Image.from_ref_name("tools").with_commands(["echo ref > /ref.txt"])
        built.append(image.uri)
        flyte.build(image)
        assert _in_image(runtime, image.uri, "cat /ref.txt") == "ref\n"
        with pytest.raises(flyte.errors.ImageBuildError, match=r"'gpu'.*flyte.init\(images="):
            flyte.build(flyte.Image.from_ref_name("gpu").with_env_vars({"A": "1"}))
    finally:
        set_image_refs(None)


# ---- tasks whose environment has an unbuilt Image ---------------------------------------------------

_marker = uuid.uuid4().hex[:12]
_py_image = flyte.Image.from_base(PYTHON).with_env_vars({"BUILT_MARK": _marker}).with_workdir("/srv")
in_built = flyte.TaskEnvironment(name="built_image", image=_py_image)


@in_built.task
def inspect_image() -> str:
    import os

    return f"{os.environ.get('BUILT_MARK')}|{os.getcwd()}|{os.path.exists('/var/inputs/_flyte_bootstrap.py')}"


def test_python_task_runs_in_its_image_built_first(runtime: str, built: list[str]) -> None:
    built.append(_py_image.uri)
    subprocess.run([runtime, "rmi", "-f", _py_image.uri], capture_output=True)
    run = flyte.with_runcontext(isolation="container").run(inspect_image)
    assert run.outputs()[0] == f"{_marker}|/srv|True"
    _image_id(runtime, _py_image.uri)  # it was built under its URI


def test_container_task_with_an_image_sees_env_and_copied_file(
    runtime: str, tmp_path: Path, built: list[str]
) -> None:
    image, marker = _layered(tmp_path, BUSYBOX)
    built.append(image.uri)
    task = ContainerTask(
        name="built.show",
        image=image,
        command=["sh", "-c", 'echo "$GREETING $(cat data.txt)" > /var/outputs/out'],
        outputs={"out": str},
    )
    run = flyte.run(task)
    assert run.outputs()[0].strip() == f"hello {marker} file {marker}"


def test_build_images_builds_each_environment_image(runtime: str, tmp_path: Path, built: list[str]) -> None:
    image, marker = _layered(tmp_path, BUSYBOX)
    built.append(image.uri)
    env = flyte.TaskEnvironment(name="build_images_env", image=image)
    ref = flyte.TaskEnvironment(name="build_images_ref", image=BUSYBOX)
    cache = flyte.build_images(env, ref)
    assert cache.image_lookup == {"build_images_env": image.uri, "build_images_ref": BUSYBOX}
    assert _in_image(runtime, image.uri, "cat data.txt") == f"file {marker}\n"
