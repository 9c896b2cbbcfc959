"""ContainerTask without a container runtime: definition, spec, args, the I/O contract, runtime lookup,
the command line given to the runtime, the in-container bootstrap (run here), discovery and the
``isolation="container"`` mode choice."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flyte
import flyte.errors
import pytest
from flyte.io import Dir, File
from flyteplugins.container import (
    ContainerOutputError,
    ContainerRuntimeNotFoundError,
    ContainerTask,
    _io,
    _runtime,
    configure,
    find_runtime,
)
from flyteplugins.container._backend import environment_of, limits_of
from flyteplugins.container._engine import ContainerSpec, Mount
from flyteplugins.container._python import dumps_by_value

GOLDEN = Path(__file__).parent / "golden" / "resize.spec.json"


@dataclass
class Box:
    w: int
    h: int


resize = ContainerTask(
    "resize",
    "ghcr.io/example/imagetool:1.2",
    ["imagetool", "resize"],
    arguments=[
        "--in",
        "{{.inputs.picture}}",
        "--size",
        "{{ .inputs.size }}",
        "--out",
        "/var/outputs/picture",
    ],
    inputs={"picture": File, "size": int, "box": Box},
    outputs={"picture": File, "ratio": float},
    resources=flyte.Resources(cpu=2, memory="1Gi"),
    env_vars={"MODE": "fast"},
    secrets=["registry-token"],
    metadata_format="yaml",
    timeout=60,
    retries=2,
)


# ---- definition ----------------------------------------------------------------------------------------


def test_definition_normalises_and_builds_the_interface() -> None:
    assert resize.task_type == "raw-container" and resize.task_type_version == 0
    assert resize.metadata_format == "YAML"
    assert list(resize.interface.inputs) == ["picture", "size", "box"]
    assert resize.interface.output._fields == ("picture", "ratio")
    assert resize.timeout is not None and resize.timeout.max_runtime_seconds == 60
    assert resize.retries.count == 2
    assert [s.env_var_name for s in resize.secrets] == ["REGISTRY_TOKEN"]
    one = ContainerTask(name="one", image="busybox", command=["true"], outputs={"n": int})
    assert one.interface.output is int
    none = ContainerTask(name="none", image="busybox", command=["true"])
    assert none.interface.output is None and none.arguments is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": ""}, "image reference"),
        ({"image": "auto"}, "names no image"),
        ({"image": "a b"}, "image reference"),
        ({"command": "echo hi"}, "command must be a list of strings"),
        ({"command": []}, "command must not be empty"),
        ({"command": ["echo", 3]}, "every item of command must be a string"),
        ({"command": ["cat", "{{.inputs.nope}}"]}, "refers to no declared input"),
        ({"arguments": ["{{.inputs.x"]}, "malformed input template"),
        ({"inputs": {"bad-name": int}}, "must be a Python identifier"),
        ({"inputs": [("x", int)]}, "must be a dict of name to type"),
        ({"metadata_format": "PROTO"}, "metadata_format='PROTO'"),
        ({"input_data_dir": "relative"}, "must be an absolute directory"),
        ({"output_data_dir": "/var/inputs/out"}, "must be separate directories"),
        ({"outputs": {"x": type("Opaque", (), {})}}, "cannot be read from a file"),
        ({"env_vars": {"A": 1}}, "env_vars must map str to str"),
        ({"resources": {"cpu": 1}}, r"invalid resources=.*Use flyte\.Resources"),
        ({"secrets": [3]}, r"invalid secrets=\[3\]\. Use a secret name"),
    ],
)
def test_definition_errors_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"name": "t", "image": "busybox", "command": ["true"], "inputs": {"x": int}}
    with pytest.raises(ValueError, match=message):
        ContainerTask(**{**base, **kwargs})


def test_override_keeps_a_container_task_and_refuses_the_image() -> None:
    t = resize.override(resources=flyte.Resources(memory="2Gi"), retries=0)
    assert isinstance(t, ContainerTask) and t.command == resize.command and t.retries.count == 0
    assert t.resources is not None and t.resources.memory == "2Gi"
    with pytest.raises(flyte.errors.InvalidParameterError, match="image"):
        resize.override(image="other")  # type: ignore[call-arg]


def test_identity_follows_image_and_command() -> None:
    def make(**changes: Any) -> ContainerTask:
        kw: dict[str, Any] = {"name": "t", "image": "busybox", "command": ["echo", "a"]}
        return ContainerTask(**{**kw, **changes})

    assert make().identity == make().identity
    assert make(image="busybox:2").identity != make().identity
    assert make(command=["echo", "b"]).identity != make().identity


# ---- spec -----------------------------------------------------------------------------------------------


def test_container_args_keep_templates() -> None:
    sctx = flyte.extend.SerializationContext()
    assert resize.container_args(sctx) == [
        "imagetool",
        "resize",
        "--in",
        "{{.inputs.picture}}",
        "--size",
        "{{.inputs.size}}",
        "--out",
        "/var/outputs/picture",
    ]


def test_render_args_substitutes_values() -> None:
    assert resize.render_args({"picture": "/var/inputs/picture", "size": "64", "box": "{}"})[3:6] == [
        "/var/inputs/picture",
        "--size",
        "64",
    ]


def test_config_carries_the_data_loading_contract() -> None:
    sctx = flyte.extend.SerializationContext()
    assert resize.custom_config(sctx) == {
        "data_loading_config": {
            "enabled": True,
            "format": "YAML",
            "input_path": "/var/inputs",
            "output_path": "/var/outputs",
            "metadata_file": "inputs.yaml",
            "io_strategy": {"download_mode": "DOWNLOAD_EAGER", "upload_mode": "UPLOAD_ON_EXIT"},
        },
        "inputs": {"picture": "file", "size": "int", "box": "json"},
        "outputs": {"picture": "file", "ratio": "float"},
    }
    assert resize.config(sctx) == {
        "input_data_dir": "/var/inputs",
        "output_data_dir": "/var/outputs",
        "metadata_format": "YAML",
        "metadata_file": "/var/inputs/inputs.yaml",
        "inputs": "picture,size,box",
        "outputs": "picture,ratio",
        "mounted_inputs": "picture",
    }


def test_golden_spec() -> None:
    spec = resize.spec().model_dump(mode="json")
    identity, version = spec.pop("identity"), spec.pop("version")
    assert len(identity) == len(version) == 32
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    assert spec == json.loads(GOLDEN.read_text()), "spec changed; rerun with UPDATE_GOLDEN=1 if intended"
    assert spec["secrets"] == [{"key": "registry-token", "group": None, "env_var": "REGISTRY_TOKEN"}]


# ---- the I/O contract ------------------------------------------------------------------------------------


async def test_stage_inputs_writes_files_metadata_and_mounts(tmp_path: Path) -> None:
    f = tmp_path / "pic.png"
    f.write_bytes(b"\x89PNG")
    d = tmp_path / "dir"
    d.mkdir()
    inputs = {
        "picture": File(path=str(f)),
        "folder": Dir(path=f"file://{d}"),
        "size": 64,
        "ratio": 0.5,
        "flag": False,
        "label": "a b\nc",
        "box": Box(2, 3),
        "tags": ["x", "y"],
        "maybe": None,
    }
    host = tmp_path / "in"
    mounts, texts = await _io.stage_inputs(inputs, str(host), "/var/inputs", "JSON", str(tmp_path / "s"))
    assert mounts == [
        Mount(str(f), "/var/inputs/picture", read_only=True),
        Mount(str(d), "/var/inputs/folder", read_only=True),
    ]
    assert (host / "picture").is_file() and (host / "folder").is_dir()  # mount points exist
    files = {p.name: p.read_text() for p in host.iterdir() if p.is_file()}
    assert files["size"] == "64" and files["ratio"] == "0.5" and files["flag"] == "false"
    assert files["label"] == "a b\nc" and files["maybe"] == ""
    assert json.loads(files["box"]) == {"w": 2, "h": 3} and json.loads(files["tags"]) == ["x", "y"]
    assert json.loads(files["inputs.json"]) == {
        "picture": "/var/inputs/picture",
        "folder": "/var/inputs/folder",
        "size": 64,
        "ratio": 0.5,
        "flag": False,
        "label": "a b\nc",
        "box": {"w": 2, "h": 3},
        "tags": ["x", "y"],
        "maybe": None,
    }
    assert texts["picture"] == "/var/inputs/picture" and texts["flag"] == "false"
    assert stat.S_IMODE(os.stat(host).st_mode) == 0o755


async def test_stage_inputs_yaml_metadata(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    await _io.stage_inputs({"n": 1, "s": "x"}, str(tmp_path / "in"), "/in", "YAML", str(tmp_path))
    assert yaml.safe_load((tmp_path / "in" / "inputs.yaml").read_text()) == {"n": 1, "s": "x"}


async def test_missing_file_input_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="input 'f'"):
        await _io.stage_inputs(
            {"f": File(path=str(tmp_path / "nope"))}, str(tmp_path / "in"), "/in", "JSON", ""
        )


async def test_read_outputs_parses_each_type(tmp_path: Path) -> None:
    (tmp_path / "n").write_text("42\n")
    (tmp_path / "x").write_text(" 2.5 ")
    (tmp_path / "ok").write_text("yes")
    (tmp_path / "s").write_text("line\n")
    (tmp_path / "box").write_text('{"w": 1, "h": 2}')
    (tmp_path / "f").write_text("data")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("1")
    outputs = {
        "n": int,
        "x": float,
        "ok": bool,
        "s": str,
        "box": Box,
        "f": File,
        "d": Dir,
        "opt": int | None,
        "tags": list[str] | None,
    }
    values = await _io.read_outputs("t", outputs, str(tmp_path), "/var/outputs")
    assert values["n"] == 42 and values["x"] == 2.5 and values["ok"] is True and values["s"] == "line"
    assert values["box"] == Box(1, 2)
    assert isinstance(values["f"], File) and Path(values["f"].path).read_text() == "data"
    assert isinstance(values["d"], Dir) and values["opt"] is None and values["tags"] is None


@pytest.mark.parametrize(
    ("t", "content", "message"),
    [
        (int, "abc", "output 'out' must be int but the file /var/outputs/out holds 'abc'"),
        (bool, "maybe", "output 'out' must be bool"),
        (Box, '{"w": "wide"}', "output 'out' must be Box"),
        (list[int], "not json", "output 'out' must be list"),
        (
            int,
            None,
            "output 'out' is missing: the container exited 0 but did not write the file /var/outputs/out",
        ),
        (Dir, None, "output 'out' must be a directory at /var/outputs/out"),
    ],
)
async def test_bad_outputs_name_the_output_and_the_file(
    tmp_path: Path, t: Any, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "out").write_text(content)
    with pytest.raises(ContainerOutputError, match=message.replace("(", r"\(").replace("[", r"\[")) as e:
        await _io.read_outputs("t", {"out": t}, str(tmp_path), "/var/outputs")
    assert e.value.output == "out" and e.value.path == "/var/outputs/out"


# ---- runtime lookup and the runtime's command line -------------------------------------------------------


def _fake_bin(folder: Path, name: str) -> str:
    folder.mkdir(exist_ok=True)
    p = folder / name
    p.write_text("#!/bin/sh\nexit 0\n")
    p.chmod(0o755)
    return str(p)


@pytest.fixture
def clean_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_runtime.ENV_RUNTIME, raising=False)
    monkeypatch.delenv(_runtime.ENV_NETWORK, raising=False)
    monkeypatch.delenv(_runtime.ENV_PULL, raising=False)
    monkeypatch.setattr(_runtime, "_settings", {})


@pytest.mark.usefixtures("clean_runtime")
def test_runtime_lookup_prefers_podman(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bins = tmp_path / "bin"
    docker = _fake_bin(bins, "docker")
    monkeypatch.setenv("PATH", str(bins))
    assert find_runtime() == _runtime.ContainerRuntime("docker", docker)
    podman = _fake_bin(bins, "podman")
    assert find_runtime() == _runtime.ContainerRuntime("podman", podman)
    monkeypatch.setenv(_runtime.ENV_RUNTIME, "docker")
    assert find_runtime().name == "docker"
    configure(runtime=podman)
    assert find_runtime() == _runtime.ContainerRuntime("podman", podman)
    configure(runtime=None)
    assert find_runtime().name == "docker"


@pytest.mark.usefixtures("clean_runtime")
def test_no_runtime_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ContainerRuntimeNotFoundError, match="podman \\(preferred\\) or docker"):
        find_runtime()
    assert "No container runtime found" in str(_runtime.runtime_problem())
    monkeypatch.setenv(_runtime.ENV_RUNTIME, "nerdctl")
    with pytest.raises(ContainerRuntimeNotFoundError, match="'nerdctl'"):
        find_runtime()


@pytest.mark.usefixtures("clean_runtime")
def test_create_args(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ContainerSpec(
        image="img:1",
        argv=["sh", "-c", "echo $A"],
        name="flyte-x",
        mounts=[Mount("/h/in", "/var/inputs"), Mount("/h/out", "/var/outputs", read_only=False)],
        env={"A": "1"},
        secret_env={"TOKEN": "s3cr3t"},
        memory_bytes=64 * 1024**2,
        cpus=0.5,
        labels={"flyte.run": "r1"},
        max_runtime=10,
    )
    rt = _runtime.ContainerRuntime("podman", "/usr/bin/podman")
    args = spec.create_args(rt)
    assert args[:3] == ["/usr/bin/podman", "create", "--rm"]
    assert "s3cr3t" not in " ".join(args)
    joined = " ".join(args)
    for part in [
        "--name flyte-x",
        "--label flyte.managed=true",
        "--label flyte.run=r1",
        "--memory 67108864 --memory-swap 67108864",
        "--cpus 0.5",
        "-v /h/in:/var/inputs:ro",
        "-v /h/out:/var/outputs",
        "-e A=1",
        "-e TOKEN",
        "--timeout 42",  # podman's own backstop: timeout + stop grace + 30 s
    ]:
        assert part in joined
    docker = spec.create_args(_runtime.ContainerRuntime("docker", "/usr/bin/docker"))
    assert "--timeout" not in docker and docker[-4:] == args[-4:]
    assert args[-4:] == ["img:1", "sh", "-c", "echo $A"]
    configure(network="none", pull="never")
    assert "--network none --pull never" in " ".join(spec.create_args(rt))
    with pytest.raises(ValueError, match="pull"):
        configure(pull="sometimes")


def test_limits_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    lim = limits_of(resize)
    assert lim.memory_bytes == 1024**3 and lim.cpus == min(2.0, float(os.cpu_count() or 1))
    gpu = resize.override(resources=flyte.Resources(gpu="T4:1"))
    with pytest.raises(flyte.errors.NonRecoverableError, match="accelerators"):
        limits_of(gpu)
    monkeypatch.delenv("REGISTRY_TOKEN", raising=False)
    with pytest.raises(flyte.errors.NonRecoverableError, match="set the environment variable REGISTRY_TOKEN"):
        environment_of(resize, None)
    monkeypatch.setenv("REGISTRY_TOKEN", "tok")
    env, secrets = environment_of(resize, None)
    assert env == {"MODE": "fast"} and secrets == {"REGISTRY_TOKEN": "tok"}


# ---- Python tasks in a container: the bootstrap, run here ------------------------------------------------


def _square_plus(n: int, f: File) -> tuple[int, File]:
    import pathlib

    out = pathlib.Path("/tmp") / f"flyte-bootstrap-test-{os.getpid()}.txt"
    out.write_text(str(n * n))
    return n * n + int(pathlib.Path(f.path).read_text()), File(path=str(out))


def _boom() -> None:
    raise KeyError("missing")


def _bootstrap(tmp_path: Path, func: Any, inputs: dict[str, Any], **meta: Any) -> tuple[int, Any]:
    import cloudpickle
    from flyteplugins.container import _bootstrap as boot

    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir(parents=True)
    out_dir.mkdir(parents=True)
    (in_dir / "meta.json").write_text(
        json.dumps({"python": list(sys.version_info[:2]), "task": "t", "mounted": [], **meta})
    )
    (in_dir / "task.pkl").write_bytes(dumps_by_value((func, inputs), __name__))
    p = subprocess.run([sys.executable, boot.__file__, str(in_dir), str(out_dir)], capture_output=True)
    return p.returncode, cloudpickle.loads((out_dir / "_flyte_result.pkl").read_bytes())


def test_bootstrap_runs_the_function_and_exports_files(tmp_path: Path) -> None:
    src = tmp_path / "three.txt"
    src.write_text("3")
    code, result = _bootstrap(tmp_path, _square_plus, {"n": 4, "f": File(path=str(src))})
    assert code == 0 and result[0] == "ok"
    value, exported = result[1]
    assert value == 19
    # A file the function made outside the output directory is copied under it for the host.
    assert exported.path.startswith(str(tmp_path / "out" / "_flyte_files"))
    assert Path(exported.path).read_text() == "16"


def test_bootstrap_reports_errors_and_version_mismatch(tmp_path: Path) -> None:
    code, result = _bootstrap(tmp_path / "a", _boom, {})
    assert code == 1 and result[0] == "error" and result[2] == "KeyError"
    import cloudpickle

    assert isinstance(cloudpickle.loads(result[1]), KeyError) and "_boom" in result[4]
    code, result = _bootstrap(tmp_path / "b", _boom, {}, python=[2, 7])
    assert code == 3 and result[0] == "setup" and result[1] == "PythonVersionMismatch"
    assert "use an image with Python 2.7" in result[2]


def test_functions_of_the_task_module_are_pickled_by_value() -> None:
    import pickletools

    data = dumps_by_value(_boom, __name__)
    text = " ".join(str(arg) for _, arg, _ in pickletools.genops(data) if isinstance(arg, str))
    assert "_make_function" in text or "_builtin_type" in text  # code, not a reference to this module
    assert __name__ not in pickle_by_value_registry()


def pickle_by_value_registry() -> list[str]:
    import cloudpickle

    return list(cloudpickle.list_registry_pickle_by_value())


# ---- discovery and the isolation mode ------------------------------------------------------------------


def test_plugin_is_discovered_through_its_entry_point() -> None:
    from flyte._plugins.manager import load_plugins

    info = load_plugins(reload=True).plugins["container"]
    assert info.distribution == "flyte-plugin-container" and info.error is None
    assert info.task_types == ["raw-container"] and info.executors == ["container"]


def test_isolation_container_picks_tasks_with_an_image(monkeypatch: pytest.MonkeyPatch) -> None:
    from flyte._runtime.placement import Workers

    with_image = flyte.TaskEnvironment(name="iso_img", image="localhost/x:1")
    without = flyte.TaskEnvironment(name="iso_plain")

    @with_image.task
    async def a() -> int:
        return 1

    @without.task
    async def b() -> int:
        return 2

    w = Workers(None, forced="container", max_cpus=None)  # type: ignore[arg-type]
    assert w.mode(a) == "container" and w.mode(b) == "inline" and w.mode(resize) == "inline"
    assert Workers(None, forced="process", max_cpus=None).mode(a) == "process"  # type: ignore[arg-type]
    flyte.with_runcontext(isolation="container")  # accepted
    with pytest.raises(flyte.errors.InvalidParameterError, match="'container'"):
        flyte.with_runcontext(isolation="vm")


def test_container_isolation_without_the_executor_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flyte._plugins.manager import load_plugins
    from flyte._runtime.placement.container import load_executor

    monkeypatch.setenv("FLYTE_DISABLE_PLUGINS", "container")
    load_plugins(reload=True)
    try:
        # The plugin is installed but off: the error names it and says so (the core names no plugin).
        with pytest.raises(
            flyte.errors.NonRecoverableError,
            match=r"Plugin 'container' \(flyte-plugin-container\) provides it but is disabled",
        ):
            load_executor()
    finally:
        monkeypatch.delenv("FLYTE_DISABLE_PLUGINS")
        load_plugins(reload=True)
    assert type(load_executor()).__name__ == "PythonContainerExecutor"


def test_dataclass_replace_keeps_derived_fields() -> None:
    t = dataclasses.replace(resize, docs="resize a picture")
    assert t.interface.output._fields == ("picture", "ratio") and t.metadata_format == "YAML"
