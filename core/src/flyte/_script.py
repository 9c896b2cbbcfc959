"""``flyte.run_python_script`` and ``flyte.load_plugin_config``: run a plain script as a task.

The script runs in a subprocess inside a task of a real local run, so it gets a run record, logs,
retries of the runtime and ``flyte rerun``-style inspection; a non-zero exit fails the run.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pathlib
import re
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flyte.errors import InvalidParameterError

if TYPE_CHECKING:
    from flyte._image import Image
    from flyte._run import Run
    from flyte.io import Dir

_TAIL_LINES = 80


@dataclass
class PythonScriptOutput:
    """What the script task returns: its exit code, the last lines it printed, its output dir."""

    exit_code: int
    stdout: str
    output_dir: Dir[Any] | None = None


def _env_name(stem: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_") or "script"
    return f"python_script_{cleaned}"[:63].rstrip("-_")


def _script_task(
    env: Any, script: pathlib.Path, timeout: int, short_name: str, output_dir: str | None
) -> Any:
    def execute_script(args: list[str]) -> PythonScriptOutput:
        """Run the script with this interpreter; stream its output into the action's log."""
        import collections
        import subprocess
        import sys

        tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        proc = subprocess.Popen(
            [sys.executable, "-u", str(script), *args],
            cwd=str(script.parent),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                tail.append(line)
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = "".join(tail)
        if proc.returncode != 0:
            raise RuntimeError(
                f"Script {script.name} exited with code {proc.returncode}; last output:\n{text}"
            )
        out_dir: Dir[Any] | None = None
        if output_dir:
            from flyte.io import Dir

            out_dir = Dir.from_local_sync(pathlib.Path(script.parent, output_dir))
        return PythonScriptOutput(exit_code=proc.returncode, stdout=text, output_dir=out_dir)

    execute_script.__qualname__ = execute_script.__name__
    return env.task(short_name=short_name)(execute_script)


def run_python_script(
    script: pathlib.Path,
    *,
    cpu: int = 4,
    memory: str = "16Gi",
    gpu: int = 0,
    gpu_type: str = "T4",
    image: Image | list[str] | None = None,
    timeout: int = 3600,
    extra_args: list[str] | None = None,
    queue: str | None = None,
    wait: bool = False,
    name: str | None = None,
    debug: bool = False,
    output_dir: str | None = None,
    include_files: list[str] | None = None,
    plugin_config: Any | None = None,
    clustered: bool = False,
    replicas: int | None = None,
    nproc_per_node: int | None = None,
    runtime: Any | None = None,
    failure_policy: Any | None = None,
    ttl_seconds_after_finished: int | None = None,
) -> Run:
    """Run ``script`` (with ``extra_args``) as a task in a local run and return the Run.

    Locally ``cpu``/``memory``/``gpu``/``image``/``queue`` are recorded in the task's spec but not
    enforced (the script runs as a subprocess of this interpreter); ``clustered`` needs a cluster.
    """
    import flyte
    from flyte._environment import TaskEnvironment

    owner = "flyte.run_python_script"
    path = pathlib.Path(script).resolve()
    if not path.is_file():
        raise InvalidParameterError(owner, "script", str(script), "The file does not exist; check the path.")
    if path.suffix != ".py":
        raise InvalidParameterError(owner, "script", str(script), "Pass a .py file.")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        raise InvalidParameterError(owner, "timeout", timeout, "Use a positive number of seconds.")
    if clustered:
        raise InvalidParameterError(
            owner,
            "clustered",
            clustered,
            "Multi-node clustered scripts need a cluster; run with clustered=False.",
        )
    if any(
        v is not None for v in (replicas, nproc_per_node, runtime, failure_policy, ttl_seconds_after_finished)
    ):
        raise InvalidParameterError(
            owner, "replicas", replicas, "replicas/nproc_per_node/runtime/... only apply with clustered=True."
        )
    img: Any = image
    if image is None or isinstance(image, list):
        img = flyte.Image.from_debian_base(name="python-script-runner")
        if image:
            img = img.with_pip_packages(*image)
    env = TaskEnvironment(name=_env_name(path.stem), image=img, plugin_config=plugin_config)
    task = _script_task(env, path, timeout, name or path.stem, output_dir)
    return flyte.with_runcontext(name=name).run(task, list(extra_args or []))


def _run_python_script_aio(*args: Any, **kwargs: Any) -> Any:
    import asyncio

    return asyncio.to_thread(run_python_script, *args, **kwargs)


run_python_script.aio = _run_python_script_aio  # type: ignore[attr-defined]


# ---- plugin config from a file ---------------------------------------------------------------------
def _resolve_class(qualname: Any, path: pathlib.Path) -> type:
    if not isinstance(qualname, str) or "." not in qualname:
        raise InvalidParameterError(
            f"load_plugin_config({str(path)!r})", "plugin", qualname, "Use 'package.module.ClassName'."
        )
    module_name, _, cls_name = qualname.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as e:
        raise InvalidParameterError(
            f"load_plugin_config({str(path)!r})",
            "plugin",
            qualname,
            f"Cannot import it ({e}); install its plugin.",
        ) from None
    if not isinstance(cls, type):
        raise InvalidParameterError(f"load_plugin_config({str(path)!r})", "plugin", qualname, "Name a class.")
    return cls


def _build(tp: Any, value: Any) -> Any:
    """Turn nested mappings/lists into the dataclasses the type hint ``tp`` names."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, dict):
        hints = typing.get_type_hints(tp)
        return tp(**{k: _build(hints.get(k, Any), v) for k, v in value.items()})
    if origin in (list, tuple) and isinstance(value, list):
        args = typing.get_args(tp)
        items = [_build(args[0] if args else Any, v) for v in value]
        return items if origin is list else tuple(items)
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(tp)
        return {k: _build(args[1] if len(args) == 2 else Any, v) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return _build(arg, value)
            if typing.get_origin(arg) in (list, tuple, dict):
                return _build(arg, value)
    return value


def _read_mapping(path: pathlib.Path) -> Any:
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        try:
            return json.loads(text)
        except ValueError:
            raise ImportError(
                f"load_plugin_config({str(path)!r}): reading YAML needs PyYAML: pip install pyyaml "
                "(or write the file as JSON)."
            ) from None
    return yaml.safe_load(text)


def load_plugin_config(path: str | pathlib.Path) -> Any:
    """A plugin config object from a YAML (or JSON) file: ``{plugin: pkg.mod.Class, config: {...}}``."""
    p = pathlib.Path(path)
    owner = f"load_plugin_config({str(p)!r})"
    if not p.is_file():
        raise InvalidParameterError(owner, "path", str(p), "The file does not exist.")
    raw = _read_mapping(p) or {}
    if not isinstance(raw, dict) or "plugin" not in raw:
        raise InvalidParameterError(
            owner,
            "plugin",
            None,
            "The file must be a mapping with a top-level 'plugin: pkg.module.ClassName'.",
        )
    cls = _resolve_class(raw["plugin"], p)
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise InvalidParameterError(
            owner, "config", config, "'config' must be a mapping of constructor arguments."
        )
    return _build(cls, config)
