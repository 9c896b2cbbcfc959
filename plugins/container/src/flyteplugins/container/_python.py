"""Python tasks in their image: the ``container`` executor behind ``isolation="container"``.

The function and its inputs are cloudpickled into the input directory (the function's own module by
value, so the image needs only what the code imports, not the code), ``_bootstrap.py`` runs it in a
container of the task's image, and the result comes back through the output directory. Local
``File``/``Dir`` inputs are mounted read-only at their own paths; container-local ``File``/``Dir``
results are copied out and uploaded into the run's store. Limits, environment, secrets, logs, OOM,
timeouts and cleanup are the same as for ``ContainerTask``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import cloudpickle
from flyte.errors import NonRecoverableError
from flyte.extend import ExecutionContext, TaskTemplate, beat_while_waiting, touch_beat
from flyte.io import Dir, File
from flyteplugins.container import _engine, _orphan
from flyteplugins.container._backend import (
    create_failure,
    environment_of,
    failure,
    finish_log,
    labels_of,
    limits_of,
    log_target,
    name_of,
)
from flyteplugins.container._engine import ContainerCreateError, ContainerSpec, LogSink, Mount
from flyteplugins.container._errors import ContainerTaskError
from flyteplugins.container._runtime import find_runtime

IN_DIR = "/var/inputs"
OUT_DIR = "/var/outputs"
ENV_PYTHON = "FLYTE_CONTAINER_PYTHON"
"""The interpreter in the image (default ``python3``)."""
_BOOTSTRAP = Path(__file__).with_name("_bootstrap.py")
_pickle_lock = threading.Lock()


def image_of(task: TaskTemplate[Any, Any]) -> str | None:
    """The task's image reference, or None when it names none (``"auto"`` or unset)."""
    image = task.image
    if image is None or image == "auto":
        return None
    return image if isinstance(image, str) else str(image.uri)


def dumps_by_value(obj: Any, module_name: str | None) -> bytes:
    """cloudpickle ``obj`` with ``module_name`` pickled by value (its code need not be in the image)."""
    mod = sys.modules.get(module_name or "")
    if mod is None or module_name == "__main__" or module_name in cloudpickle.list_registry_pickle_by_value():
        return bytes(cloudpickle.dumps(obj))
    with _pickle_lock:
        cloudpickle.register_pickle_by_value(mod)
        try:
            return bytes(cloudpickle.dumps(obj))
        finally:
            cloudpickle.unregister_pickle_by_value(mod)


def _local(path: str) -> str | None:
    if path.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(path).path)
    return None if "://" in path else os.path.abspath(path)


def _file_paths(value: Any, found: list[str]) -> None:
    """Local paths of the File/Dir values in ``value`` (lists, tuples, dicts, dataclasses)."""
    if isinstance(value, (File, Dir)):
        p = _local(value.path)
        if p is not None and os.path.exists(p):
            found.append(p)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _file_paths(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _file_paths(v, found)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _file_paths(getattr(value, f.name), found)


def _mounts_for(paths: list[str]) -> list[Mount]:
    """Read-only mounts at the same paths, skipping any path inside another."""
    out: list[Mount] = []
    for p in sorted(set(paths), key=len):
        if not any(p == m.host or p.startswith(m.host.rstrip("/") + "/") for m in out):
            out.append(Mount(p, p, read_only=True))
    return out


async def _import_files(value: Any, host_out: str) -> Any:
    """File/Dir values the container left under its output directory, as values on this machine."""
    if isinstance(value, (File, Dir)):
        path = value.path
        if path == OUT_DIR or path.startswith(OUT_DIR + "/"):
            local = os.path.join(host_out, os.path.relpath(path, OUT_DIR))
            return await type(value).from_local(local)
        return value
    if isinstance(value, list):
        return [await _import_files(v, host_out) for v in value]
    if isinstance(value, tuple):
        items = [await _import_files(v, host_out) for v in value]
        return type(value)(*items) if hasattr(type(value), "_fields") else type(value)(items)
    if isinstance(value, dict):
        return {k: await _import_files(v, host_out) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: await _import_files(getattr(value, f.name), host_out)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


class PythonContainerExecutor:
    """Runs a Python-function task's attempt in a container of its image (``run(task, inputs, ctx)``)."""

    async def run(self, task: TaskTemplate[Any, Any], inputs: dict[str, Any], ctx: ExecutionContext) -> Any:
        func = getattr(task, "func", None)
        if func is None:
            raise NonRecoverableError(
                f"Task {task.name!r} is not a Python-function task; it has no image to run"
            )
        image = image_of(task)
        if image is None:
            raise NonRecoverableError(
                f"Task {task.name!r} names no image (image={task.image!r}); give its environment one, e.g. "
                "flyte.TaskEnvironment(name=..., image='python:3.11-slim'), to run it in a container"
            )
        if not isinstance(task.image, str):  # a flyte.Image: built (or found built) before it runs
            from flyte.errors import ImageBuildError
            from flyteplugins.container._build import image_ref

            try:
                image = await asyncio.to_thread(image_ref, task.image) or image
            except ImageBuildError as e:
                raise NonRecoverableError(f"Task {task.name!r}: {e}") from None
        rt = find_runtime()
        limits = limits_of(task)
        env, secrets = environment_of(task, ctx)
        name = name_of(task, ctx)
        # In a run, the work directory and the container are named after the action (not random), so a
        # recovered driver finds what a crashed one started (issue 23: adoption).
        stable = ctx is not None
        work = _engine.stable_workdir(name) if stable else tempfile.mkdtemp(prefix="flyte-pycontainer-")
        os.makedirs(work, exist_ok=True)
        log = log_target(ctx, work)
        sink = LogSink(task.name, log.local)
        host_in, host_out = os.path.join(work, "inputs"), os.path.join(work, "outputs")
        # The driver's beat in the output folder keeps the container's orphan watch quiet (issue 23).
        beating = asyncio.get_running_loop().create_task(beat_while_waiting(host_out)) if stable else None
        try:
            result_path = os.path.join(host_out, "_flyte_result.pkl")
            python = os.environ.get(ENV_PYTHON) or "python3"
            result = None
            if stable:  # a crashed driver's container: its bootstrap may have stopped itself
                result = await _orphan.adopt_unless_orphaned(
                    rt,
                    name,
                    sink,
                    ctx,
                    task=task.name,
                    folder=host_out,
                    result_path=result_path,
                    orphan_exit=_orphan.EXIT_ORPHANED,
                    stopped="stopped itself",
                )
            if result is None:
                for d in (host_in, host_out):
                    shutil.rmtree(d, ignore_errors=True)
                os.makedirs(host_in)
                os.makedirs(host_out)
                if stable:
                    touch_beat(host_out)  # before the container starts watching it
                os.chmod(work, 0o755)
                os.chmod(host_in, 0o755)
                os.chmod(host_out, 0o777)  # the image may run as a non-root user
                paths: list[str] = []
                _file_paths(inputs, paths)
                file_mounts = _mounts_for(paths)
                meta = {
                    "python": list(sys.version_info[:2]),
                    "cloudpickle": cloudpickle.__version__,
                    "task": task.name,
                    "mounted": [m.container for m in file_mounts],
                }
                try:
                    payload = dumps_by_value((func, inputs), getattr(func, "__module__", None))
                except Exception as e:
                    raise NonRecoverableError(
                        f"Task {task.name!r} cannot run in a container: its function or inputs do not pickle "
                        f"({type(e).__name__}: {e})"
                    ) from e
                for fname, data in (
                    ("meta.json", json.dumps(meta).encode()),
                    ("task.pkl", payload),
                    ("_flyte_bootstrap.py", _BOOTSTRAP.read_bytes()),
                ):
                    with open(os.path.join(host_in, fname), "wb") as f:
                        f.write(data)
                    os.chmod(os.path.join(host_in, fname), 0o644)
                spec = ContainerSpec(
                    image=image,
                    argv=[python, f"{IN_DIR}/_flyte_bootstrap.py", IN_DIR, OUT_DIR],
                    name=name,
                    mounts=[Mount(host_in, IN_DIR), *file_mounts, Mount(host_out, OUT_DIR, read_only=False)],
                    env={
                        "PYTHONUNBUFFERED": "1",
                        "PYTHONDONTWRITEBYTECODE": "1",
                        **env,
                        **(_orphan.grace_env() if stable else {}),
                    },
                    secret_env=secrets,
                    memory_bytes=limits.memory_bytes,
                    cpus=limits.cpus,
                    labels=labels_of(task, ctx),
                    max_runtime=task.timeout.max_runtime_seconds if task.timeout is not None else None,
                )
                try:
                    result = await _engine.run_container(rt, spec, sink)
                except ContainerCreateError as e:
                    raise create_failure(task, image, e) from None
            if not os.path.exists(result_path):
                orphaned = _orphan.stopped_error(host_out, task.name) if stable else None
                if orphaned is not None:
                    raise orphaned
                if result.exit_code != 0:
                    raise failure(task, result, limits, log)
                raise ContainerTaskError(
                    f"Task {task.name!r}: the container exited 0 without a result; does the image's "
                    f"{python!r} run scripts? Full log: {log.uri}",
                    task=task.name,
                    exit_code=0,
                )
            with open(result_path, "rb") as f:
                outcome = cloudpickle.load(f)
            if outcome[0] == "ok":
                return await _import_files(outcome[1], host_out)
            if outcome[0] == "setup":
                raise NonRecoverableError(
                    f"Task {task.name!r} cannot run in image {image!r}: {outcome[2]}", code=outcome[1]
                )
            _, exc_bytes, type_name, message, tb = outcome
            exc: BaseException | None = None
            if exc_bytes is not None:
                try:
                    exc = cloudpickle.loads(exc_bytes)
                except Exception:
                    exc = None
            if not isinstance(exc, Exception):
                exc = ContainerTaskError(
                    f"Task {task.name!r} failed in its container: {type_name}: {message}\n{tb}",
                    task=task.name,
                    exit_code=result.exit_code,
                    log_uri=log.uri,
                )
            else:
                exc.add_note(f"Raised in a container of image {image!r}; the traceback there:\n{tb.rstrip()}")
            raise exc
        finally:
            if beating is not None:
                beating.cancel()
            sink.close()
            finish_log(ctx, log)
            shutil.rmtree(work, ignore_errors=True)
